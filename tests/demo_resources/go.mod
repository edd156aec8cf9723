module chaosharness/demo

go 1.23.0
