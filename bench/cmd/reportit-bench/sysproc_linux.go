package main

import "syscall"

// childAttr makes the kernel kill a child if the benchmark dies, so that
// an interrupted run leaves no server or load generator behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
