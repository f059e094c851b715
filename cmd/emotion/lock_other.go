//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// lockRunFolder does nothing where flock is not available.
func lockRunFolder(dir string) (unlock func(), err error) {
	return func() {}, nil
}
