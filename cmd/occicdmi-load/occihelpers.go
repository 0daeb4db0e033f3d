package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// computeLocation finds the compute kind's location in the query interface
// (GFD.223 §9), as a client would.
func computeLocation(c *http.Client, base string) (string, error) {
	r, err := http.NewRequest("GET", base+"/-/", nil)
	if err != nil {
		return "", err
	}
	r.Header.Set("Accept", "text/plain")
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s/-/: %d", base, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Category: compute;") || !strings.Contains(line, `scheme="http://schemas.ogf.org/occi/infrastructure#"`) {
			continue
		}
		_, rest, ok := strings.Cut(line, `location="`)
		if !ok {
			break
		}
		loc, _, _ := strings.Cut(rest, `"`)
		b, _ := url.Parse(base + "/")
		l, err := url.Parse(loc)
		if err != nil {
			return "", err
		}
		return b.ResolveReference(l).String(), nil
	}
	return "", errors.New("the query interface does not list the compute kind with a location")
}

func computeBody(title string) string {
	return `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"` + "\r\n" +
		`X-OCCI-Attribute: occi.core.title="` + title + `"` + "\r\n" +
		"X-OCCI-Attribute: occi.compute.cores=1\r\n" +
		"X-OCCI-Attribute: occi.compute.memory=0.5\r\n"
}

func createCompute(c *http.Client, computes, title string) (string, error) {
	r, err := http.NewRequest("POST", computes, strings.NewReader(computeBody(title)))
	if err != nil {
		return "", err
	}
	r.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return "", fmt.Errorf("create a compute: %d: %.200s", resp.StatusCode, b)
	}
	return resp.Header.Get("Location"), nil
}

func countCollection(c *http.Client, computes string) (int, error) {
	r, err := http.NewRequest("GET", computes, nil)
	if err != nil {
		return 0, err
	}
	r.Header.Set("Accept", "text/uri-list")
	resp, err := c.Do(r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %d", computes, resp.StatusCode)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n, sc.Err()
}

// populate tops the compute collection up to want entries with workers
// concurrent creators.
func populate(c *http.Client, computes string, want, workers int, created *createdSet) (int, error) {
	have, err := countCollection(c, computes)
	if err != nil {
		return 0, err
	}
	missing := want - have
	if missing <= 0 {
		return have, nil
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				loc, err := createCompute(c, computes, fmt.Sprintf("load-%d", i))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				created.add(loc)
			}
		}()
	}
	for i := 0; i < missing; i++ {
		if firstErr.Load() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, fmt.Errorf("populate: %w", err)
	}
	return countCollection(c, computes)
}

// createdSet remembers what the run created, to clean an external server.
type createdSet struct {
	mu   sync.Mutex
	locs []string
}

func (s *createdSet) add(loc string) {
	if loc == "" {
		return
	}
	s.mu.Lock()
	s.locs = append(s.locs, loc)
	s.mu.Unlock()
}

func (s *createdSet) deleteAll(c *http.Client, workers int) int {
	s.mu.Lock()
	locs := s.locs
	s.locs = nil
	s.mu.Unlock()
	jobs := make(chan string)
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loc := range jobs {
				r, err := http.NewRequest("DELETE", loc, nil)
				if err != nil {
					continue
				}
				if resp, err := c.Do(r); err == nil {
					_ = resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						n.Add(1)
					}
				}
			}
		}()
	}
	for _, l := range locs {
		jobs <- l
	}
	close(jobs)
	wg.Wait()
	return int(n.Load())
}
