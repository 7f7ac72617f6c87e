package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// roundTrips counts what a go-redis client sends to Redis, as round trips:
// a command alone is one, a pipeline (a batch's script and its WAIT) is one
// too. With the coordinators' write counts it gives round trips per write,
// the measure of group commit that the benchmark harness reports.
type roundTrips struct{ commands, pipelines prometheus.Counter }

// countRoundTrips registers cpgw_redis_round_trips_total on reg and counts
// c's round trips in it; role labels the client (primary or replica).
func countRoundTrips(reg prometheus.Registerer, c *redis.Client, role string) error {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "cpgw_redis_round_trips_total",
		Help:        "Requests sent to Redis and answered (or failed): one per command sent alone, one per pipeline.",
		ConstLabels: prometheus.Labels{"client": role},
	}, []string{"kind"})
	if err := reg.Register(v); err != nil {
		return err
	}
	c.AddHook(roundTrips{commands: v.WithLabelValues("command"), pipelines: v.WithLabelValues("pipeline")})
	return nil
}

func (roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.commands.Inc()
		return next(ctx, cmd)
	}
}

func (r roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.pipelines.Inc()
		return next(ctx, cmds)
	}
}
