package main

import "syscall"

// dieWithParent makes the kernel kill spotter if the bench dies without
// cleaning up (SIGKILL, a crash), so no server outlives a run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
