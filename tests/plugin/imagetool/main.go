// Command imagetool stands in, inside the dialect test's image, for what real images carry
// beside their program: an entrypoint script and a healthcheck command. The reference
// images are FROM scratch (no shell), so the test builds this static binary into one.
//
//	imagetool exec FILE -- PROGRAM [ARG...]  put FILE's KEY=VALUE lines in the environment,
//	                                         say what it read and ran, then become PROGRAM
//	imagetool check URL                      exit 0 when GET URL answers 200, else 1
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) >= 5 && os.Args[1] == "exec" && os.Args[3] == "--" {
		os.Exit(execWith(os.Args[2], os.Args[4:]))
	}
	if len(os.Args) == 3 && os.Args[1] == "check" {
		os.Exit(check(os.Args[2]))
	}
	fmt.Fprintln(os.Stderr, "usage: imagetool exec FILE -- PROGRAM [ARG...] | imagetool check URL")
	os.Exit(2)
}

func execWith(file string, argv []string) int {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagetool: %v\n", err)
		return 1
	}
	var keys []string
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(lines.Text()), "=")
		if ok && key != "" && !strings.HasPrefix(key, "#") {
			os.Setenv(key, value)
			keys = append(keys, key)
		}
	}
	f.Close()
	shown, _ := json.Marshal(argv)
	fmt.Fprintf(os.Stderr, "imagetool: read %s from %s; exec %s\n", strings.Join(keys, ","), file, shown)
	err = syscall.Exec(argv[0], argv, os.Environ())
	fmt.Fprintf(os.Stderr, "imagetool: exec %s: %v\n", argv[0], err)
	return 1
}

func check(url string) int {
	client := http.Client{Timeout: 2 * time.Second}
	reply, err := client.Get(url)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	reply.Body.Close()
	fmt.Println(reply.Status)
	if reply.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
