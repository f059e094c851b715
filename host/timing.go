package host

import "errors"

// ErrHostWaited is wrapped by the error of a held group of ops timed on a
// device (the GPU backend's TimeOps, see bench.OpTimer) in which an op
// waited for the device: a Download, an Upload whose staging memory was
// still in use, a Sync. The hold was released for it, so the group's time
// is not the device's alone; time such an op without the hold.
var ErrHostWaited = errors.New("an op waited for the device inside a held group")
