package bulk

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchCSV is a CRM export of n rows with 10 columns.
func benchCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("customer_no,email,first_name,last_name,phone,city,country,lifetime_value,signed_up,vip\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,user%d@example.com,First%d,\"Last, %d\",+4520%06d,City %d,DK,%d.%02d,2024-%02d-%02d,%v\n",
			100000+i, i, i, i, i%1000000, i%500, i%9000, i%100, 1+i%12, 1+i%28, i%7 == 0)
	}
	return b.Bytes()
}

const benchMapping = `
type: identify
key: customer_no
identifiers: {userId: customer_no, email: email, phone: phone}
traits:
  first_name: first_name
  last_name: last_name
  address.city: city
  address.country: country
  lifetime_value: {column: lifetime_value, type: number}
  signed_up: {column: signed_up, type: date}
  vip: {column: vip, type: boolean}
`

// BenchmarkParseMap measures reading and mapping rows into validated calls (no store).
func BenchmarkParseMap(b *testing.B) {
	const rows = 20000
	data := benchCSV(rows)
	m, err := ParseMapping([]byte(benchMapping))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("format=csv/cols=10", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rd, err := NewReader(bytes.NewReader(data), Options{})
			if err != nil {
				b.Fatal(err)
			}
			mp, err := m.Compile(CompileOptions{Target: Target{SourceID: "src", FileHash: testHash}, Columns: rd.Columns()})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				rec, err := rd.Next()
				if err == io.EOF {
					break
				}
				if _, _, p := mp.Map(rec); p != nil {
					b.Fatal(p)
				}
				n++
			}
			if n != rows {
				b.Fatalf("%d rows", n)
			}
		}
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("format=csv/read-only", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rd, _ := NewReader(bytes.NewReader(data), Options{})
			for {
				if _, err := rd.Next(); err == io.EOF {
					break
				}
			}
		}
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
