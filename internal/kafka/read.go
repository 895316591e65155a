package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadAll calls fn for each committed record of every partition of topic
// (in offset order per partition), up to each partition's last stable
// offset when the call began: records of transactions still open are not
// waited for. A topic that does not exist has no records.
func ReadAll(ctx context.Context, opts []kgo.Opt, topic string, fn func(*kgo.Record)) error {
	return ReadPartitions(ctx, opts, topic, nil, fn)
}

// ReadPartitions is ReadAll over the given partitions only (nil: all).
func ReadPartitions(ctx context.Context, opts []kgo.Opt, topic string, partitions []int32, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	cl.Close()
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	end := map[int32]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if !strings.Contains(o.Err.Error(), "UNKNOWN_TOPIC") && ferr == nil {
				ferr = fmt.Errorf("list offsets of %s: %w", topic, o.Err)
			}
			return
		}
		if o.Offset > 0 && (partitions == nil || slices.Contains(partitions, o.Partition)) {
			end[o.Partition] = o.Offset
		}
	})
	if ferr != nil {
		return ferr
	}
	if len(end) == 0 {
		return nil
	}
	start := map[int32]kgo.Offset{}
	for p := range end {
		start[p] = kgo.NewOffset().AtStart()
	}
	rd, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are returned too, so reaching the end is
		// seen even when the log ends with one.
		kgo.KeepControlRecords())...)
	if err != nil {
		return err
	}
	defer rd.Close()
	idle := time.Duration(0)
	for len(end) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := rd.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		progress := false
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			e, ok := end[ftp.Partition]
			if !ok {
				return
			}
			for _, r := range ftp.Records {
				progress = true
				if r.Attrs.IsControl() || r.Offset >= e {
					continue
				}
				fn(r)
			}
			if n := len(ftp.Records); n > 0 && ftp.Records[n-1].Offset+1 >= e {
				delete(end, ftp.Partition)
			}
		})
		if progress {
			idle = 0
			continue
		}
		// Nothing below the end for a while: the rest was compacted away
		// (a slow connection gets 15 s before that is assumed).
		if idle += 5 * time.Second; idle >= 15*time.Second {
			return nil
		}
	}
	return nil
}
