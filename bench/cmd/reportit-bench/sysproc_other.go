//go:build !linux

package main

import "syscall"

// childAttr has no parent-death signal to ask for outside Linux; the
// benchmark stops its children itself on the way out.
func childAttr() *syscall.SysProcAttr { return nil }
