package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// RunStandalone runs an embedded broker and, unless registryListen is
// empty, a schema registry persisted in it and served on registryListen,
// until ctx is done; then it shuts both down (flushing the broker's
// DataDir). It backs `syncline broker`. A nil logger falls back to
// cfg.Logger, then slog.Default(). It returns nil after a clean shutdown.
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

	broker, err := StartBroker(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := broker.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing broker: %w", cerr))
		}
	}()

	url := ""
	if registryListen != "" {
		reg, err := NewRegistry(ctx, RegistryConfig{Brokers: broker.Addrs(), Logger: logger})
		if err != nil {
			return err
		}
		defer reg.Close()
		if url, err = reg.Serve(ctx, registryListen); err != nil {
			return err
		}
	}

	attrs := []any{"kafka_bootstrap", broker.Addrs(), "data_dir", cfg.DataDir}
	if url != "" {
		attrs = append(attrs, "schema_registry_url", url)
	}
	logger.Info("syncline standalone services ready", attrs...)
	<-ctx.Done()
	logger.Info("syncline standalone services shutting down")
	return nil
}
