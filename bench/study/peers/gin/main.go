// The study's Go peer: GET /api/matmul, /api/health and /api/compute on Gin, answering as
// examples/matmul and examples/fastserve do. Built in GOPATH mode against Debian's Gin
// (golang-github-gin-gonic-gin-dev), so no module proxy is needed:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o study-gin main.go
//	./study-gin 127.0.0.1:3002
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

const maxN = 5000

// matmul multiplies the study's A and B of size n with the i-k-j loop and returns the sum of
// the entries of the product.
func matmul(n int) float64 {
	a := make([]float64, n*n)
	b := make([]float64, n*n)
	c := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a[i*n+j] = float64((31*i + 17*j) % 100)
			b[i*n+j] = float64((13*i + 7*j) % 100)
		}
	}
	for i := 0; i < n; i++ {
		cRow := c[i*n : (i+1)*n]
		for k := 0; k < n; k++ {
			aik := a[i*n+k]
			bRow := b[k*n : (k+1)*n]
			for j := range cRow {
				cRow[j] += aik * bRow[j]
			}
		}
	}
	sum := 0.0
	for _, v := range c {
		sum += v
	}
	return sum
}

func fib(n int) uint64 {
	if n < 2 {
		return uint64(n)
	}
	return fib(n-1) + fib(n-2)
}

func badRequest(c *gin.Context, message string) {
	c.JSON(http.StatusBadRequest, gin.H{"error": message, "status": 400})
}

func main() {
	addr := "127.0.0.1:3002"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/matmul", func(c *gin.Context) {
		if kernel := c.DefaultQuery("kernel", "naive"); kernel != "naive" {
			badRequest(c, fmt.Sprintf("unknown kernel %q", kernel))
			return
		}
		n, err := strconv.Atoi(c.Query("n"))
		if err != nil || n < 1 || n > maxN {
			badRequest(c, fmt.Sprintf("n must be a number in 1..=%d", maxN))
			return
		}
		start := time.Now()
		checksum := matmul(n)
		millis := float64(time.Since(start).Microseconds()) / 1000
		c.Header("content-type", "application/json")
		c.String(http.StatusOK, `{"n":%d,"kernel":"naive","checksum":%d,"millis":%.3f}`,
			n, uint64(checksum), millis)
	})
	r.GET("/api/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/api/compute", func(c *gin.Context) {
		n, err := strconv.Atoi(c.DefaultQuery("n", "30"))
		if err != nil || n < 0 || n > 40 {
			badRequest(c, "n must be a whole number in 0..=40")
			return
		}
		c.JSON(http.StatusOK, gin.H{"n": n, "fib": fib(n)})
	})
	fmt.Printf("listening on %s\n", addr)
	if err := r.Run(addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
