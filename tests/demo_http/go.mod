module demo_http

go 1.22
