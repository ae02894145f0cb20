package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// writeBenchCSV writes a CRM export of n rows with 10 columns to path.
func writeBenchCSV(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("customer_no,email,first_name,last_name,phone,city,country,lifetime_value,signed_up,vip\n")
	for i := range n {
		fmt.Fprintf(w, "%d,user%d@example.com,First%d,\"Last, %d\",+4520%06d,City %d,DK,%d.%02d,2024-%02d-%02d,%v\n",
			100000+i, i, i, i, i%1000000, i%500, i%9000, i%100, 1+i%12, 1+i%28, i%7 == 0)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

const benchImportMapping = `type: identify
key: customer_no
identifiers: {userId: customer_no, email: email}
traits:
  first_name: first_name
  last_name: last_name
  phone: phone
  address.city: city
  address.country: country
  lifetime_value: {column: lifetime_value, type: number}
  signed_up: {column: signed_up, type: date}
  vip: {column: vip, type: boolean}
`

// BenchmarkImport measures mosaic import end to end into the inbox of the embedded store
// (hashing, reading, mapping, validating, appending, checkpoints; --no-wait, so without
// resolving). Set MOSAIC_BENCH_ROWS for a bigger file.
func BenchmarkImport(b *testing.B) {
	rows := 200000
	if v, err := strconv.Atoi(os.Getenv("MOSAIC_BENCH_ROWS")); err == nil {
		rows = v
	}
	files := b.TempDir()
	data := filepath.Join(files, "customers.csv")
	writeBenchCSV(b, data, rows)
	mapping := filepath.Join(files, "crm.yaml")
	os.WriteFile(mapping, []byte(benchImportMapping), 0o600)
	b.Run(fmt.Sprintf("store=sqlite/cols=10/rows=%d", rows), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			if _, err := runCLI(b, "source", "create", "crm", "--data", dir); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			out, err := runCLI(b, "import", "--source", "crm", "--file", data, "--mapping", mapping, "--data", dir, "--no-wait", "--progress", "none")
			if err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
