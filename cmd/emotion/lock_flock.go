//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockRunFolder takes an exclusive advisory lock (flock) on the folder
// dir, so that two trainings into one run folder (a second train, or a
// --resume, while one runs) do not interleave their log lines and replace
// each other's checkpoints. The kernel drops the lock when the process
// ends, however it ends, so a killed run leaves no stale lock behind.
func lockRunFolder(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errRunFolderInUse(dir)
		}
		if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOLCK) {
			return func() {}, nil // a file system without locks: run unguarded, as before
		}
		return nil, fmt.Errorf("lock run folder %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
