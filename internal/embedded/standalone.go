package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// DefaultRegistryListen is where RunStandalone serves the schema registry
// when no address is given: Confluent's default port, on loopback.
const DefaultRegistryListen = "127.0.0.1:8081"

// RunStandalone runs an embedded broker and a schema registry persisted in
// it until ctx is done, then shuts both down (flushing the broker's
// DataDir). It backs `syncline broker`. registryListen "" means
// DefaultRegistryListen. A nil logger falls back to cfg.Logger, then
// slog.Default(). It returns nil after a clean shutdown.
func RunStandalone(ctx context.Context, cfg BrokerConfig, registryListen string, logger *slog.Logger) (err error) {
	if logger == nil {
		logger = cfg.Logger
	}
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = logger
	}
	if registryListen == "" {
		registryListen = DefaultRegistryListen
	}

	broker, err := StartBroker(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := broker.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing broker: %w", cerr))
		}
	}()

	reg, err := NewRegistry(ctx, RegistryConfig{Brokers: broker.Addrs(), Logger: logger})
	if err != nil {
		return err
	}
	defer reg.Close()

	url, err := reg.Serve(ctx, registryListen)
	if err != nil {
		return err
	}

	logger.Info("syncline standalone services ready",
		"kafka_bootstrap", broker.Addrs(),
		"schema_registry_url", url,
		"data_dir", cfg.DataDir,
	)
	<-ctx.Done()
	logger.Info("syncline standalone services shutting down")
	return nil
}
