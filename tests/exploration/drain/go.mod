module drain

go 1.22
