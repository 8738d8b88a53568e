module github.com/dockerbank/dockerbank

go 1.26.8
