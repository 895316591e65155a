// Package embedded runs the services syncline needs, inside the syncline
// process, so a pipeline runs on a laptop with no other service: a Kafka
// broker (StartBroker), a Confluent-compatible Avro schema registry that
// keeps its state in that broker (NewRegistry), and both together
// (RunStandalone, behind `syncline broker`).
//
// # Broker
//
// The broker is a single node of kfake (github.com/twmb/franz-go/pkg/kfake),
// franz-go's in-process Kafka implementation, listening on a real TCP port
// so every Kafka client works against it. Topics are created automatically
// on first use with BrokerConfig.Partitions partitions (default 4).
// Transactions, read_committed isolation, consumer groups (classic and
// KIP-848) and idempotent producers behave as in Kafka.
//
// With BrokerConfig.DataDir set, kfake persists to that directory and
// reloads it on the next StartBroker:
//
//   - partitions/<topic>-<partition>/: the log as raw Kafka record batches
//     (*.dat) with a per-batch index (*.idx), and a snapshot.json of offsets
//     and aborted transactions written on Close;
//   - topics.json, broker_configs.json, meta.json: topic IDs, partition
//     counts and configs;
//   - groups.log and pids.log: append-only logs of committed offsets, group
//     state and producer/transaction state, written as they change and
//     compacted in place when they grow;
//   - session_state.json (written on Close, consumed on start): consumer
//     group members and transactions still open at shutdown, so a clean
//     restart neither forces a rebalance nor aborts open transactions; a
//     transaction whose timeout passed during the downtime is aborted.
//
// Without SyncWrites, data reaches the OS page cache on every write and is
// fsynced on segment roll and on Close, like Kafka's defaults: it survives
// a crash of the syncline process but not of the machine. SyncWrites
// fsyncs every produced batch and state change. After a crash (no Close)
// kfake replays the segments, aborts the transactions that were open, and
// bumps their producers' epochs. StartBroker holds a lock file in DataDir,
// so two brokers never share one. Close returns the persistence errors
// kfake reported while flushing; persistence errors during operation are
// logged at warn level (kfake reports them only through its logger).
//
// kfake logs every request at info level; the broker forwards kfake's
// warnings and errors to BrokerConfig.Logger at their own level and
// everything else at debug level.
//
// # Compaction
//
// kfake compacts topics with cleanup.policy=compact in Cluster.Compact and
// also from its own ticker, which runs every log.cleaner.backoff.ms
// (kfake's default is one hour) once any topic is compacted or has
// retention settings; the same pass applies retention.ms and
// retention.bytes. kfake's compaction does not stop at the last stable
// offset as Kafka's cleaner does: it considers every batch but the
// partition's last, including batches of transactions that are still
// open. A record of an open transaction therefore supersedes the committed
// record with the same key, and if that transaction later aborts, the key
// is gone entirely (TestBrokerCompaction demonstrates it).
//
// The broker therefore disables kfake's ticker and compacts every
// BrokerConfig.CompactInterval (default 5 minutes) itself, skipping the
// pass (and retrying sooner) while any partition of a compacted topic
// holds records of an open transaction, i.e. while its last stable offset
// is below its high watermark. The check and the compaction run inside a
// kfake control function, on kfake's request loop, so no request is
// handled between them. Remaining caveats: a compacted topic created in
// the instant between the broker listing topics and compacting is
// compacted without the check; changing log.cleaner.backoff.ms at runtime
// (AlterConfigs) re-enables kfake's unguarded ticker; kfake moves a
// partition's log start offset up to the first surviving batch (Kafka
// does not), so a consumer positioned inside a removed range gets
// OFFSET_OUT_OF_RANGE and resets per its reset policy; tombstones are
// dropped delete.retention.ms (default 24h) after they were written.
//
// # Schema registry
//
// Registry speaks the subset of the Confluent Schema Registry REST API
// that serializers and tooling use (subjects, versions, schemas by ID,
// lookup, compatibility checks, config, soft and permanent deletes, schema
// references), with Confluent's content type, error body
// ({"error_code":...,"message":...}) and error codes. Only Avro is
// supported. It is tested against franz-go's sr client.
//
// Schema identity: a schema ID is global, and registering the same schema
// under several subjects yields one ID, as in Confluent. "The same" is
// decided on a normalized form: Avro's Parsing Canonical Form rules (full
// names, no whitespace, fixed attribute order) but keeping the attributes
// PCF strips — defaults, aliases, logical types, doc and custom properties
// — because those change how data resolves or deserializes; Confluent
// likewise deduplicates on the re-serialized schema, not on PCF. The text
// returned for an ID is the text first registered with it.
//
// Compatibility: registration enforces the subject's level (else the
// global one, default BACKWARD) against the subject's live versions — the
// latest for NONE/BACKWARD/FORWARD/FULL, all of them for the _TRANSITIVE
// levels — and answers 409 with Confluent-style messages. The checker
// implements Avro schema resolution (compat.go): reader fields missing
// from the writer need defaults (matched by name or alias), int/long/float
// promotions to wider numbers, string/bytes interchange, union branch
// matching, enum symbols (a reader enum default covers unknown symbols),
// fixed sizes, nested and recursive named types. Like Avro's Java checker,
// it compares named types by simple name (or a reader alias of the
// writer's full name) and ignores logical types.
//
// Persistence: state lives in a compacted, single-partition topic
// (RegistryConfig.Topic, default "_syncline.schemas"), created if missing.
// Keys mirror Confluent's _schemas topic — {"keytype":"SCHEMA","subject":
// ...,"version":...,"magic":1} and {"keytype":"CONFIG",...} — plus an
// ID_WATERMARK record written before permanent deletes so that compaction
// never lets an ID be reused. The in-memory state is a function of the
// latest value per key, so it survives compaction unchanged. NewRegistry
// replays the topic before returning, and every write is committed to
// Kafka (acks=all) and applied locally before the HTTP response.
//
// Several instances may share one topic. Each tails the topic
// (read_committed) and applies what the others write. Writes go through a
// Kafka transaction under one transactional ID shared by all instances:
// a writer initializes its producer (fencing every other instance's
// producer), then reads the topic to its end, then decides the ID and
// version, then commits. If another instance wrote in between, it fenced
// our producer and our commit fails; the writer retries on the new state.
// A write is acknowledged only once its records have come back through the
// read_committed tail: franz-go (v1.22.2) can end a transaction with an
// abort yet report a successful commit when producers fence each other,
// so a nil commit alone is not trusted. IDs and versions are therefore
// never handed out twice. Limitations:
// reads on one instance can lag another instance's writes by the time it
// takes to fetch them; instances writing at the same time fence each
// other and retry (writes are rare, so this is cheap); and the Kafka
// cluster must support transactions (and, with ACLs, grant Write on the
// transactional ID "syncline-schema-registry.<topic>").
//
// Not supported: JSON Schema and Protobuf, schema contexts, modes other
// than READWRITE, importing with explicit IDs (an explicit ID is accepted
// only if it is the one the registry would assign), metadata and rule
// sets (ignored), authentication.
package embedded
