//go:build !linux

package main

import "syscall"

// dieWithParent has no portable equivalent off Linux; Close and the
// signal handler still stop spotter on every ordinary exit.
func dieWithParent() *syscall.SysProcAttr { return nil }
