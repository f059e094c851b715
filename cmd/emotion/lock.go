package main

import "fmt"

// errRunFolderInUse is the error of a training into a folder another one
// is writing.
func errRunFolderInUse(dir string) error {
	return fmt.Errorf("run folder %s is in use by another training (train or --resume); two runs into one folder would mix their logs and checkpoints: give another --out, or wait for that run to end", dir)
}
