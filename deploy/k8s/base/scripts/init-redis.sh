#!/bin/sh
# Writes /conf/redis.conf for this region's Redis node (an init container
# runs it before every start).
#
# A node starts as a replica of the primary the Sentinels name now, so a
# restarted former primary rejoins as a replica instead of competing with
# the one Sentinel promoted. Only when no Sentinel answers (the very first
# start of the cluster) is REDIS_BOOTSTRAP_PRIMARY taken.
#
# Environment: POD_NAME, POD_NAMESPACE, REDISCLI_AUTH (the password;
# redis-cli reads it from there), SENTINEL_HOSTS (space-separated),
# REDIS_BOOTSTRAP_PRIMARY.
set -eu

self="${POD_NAME}.cpgw-redis.${POD_NAMESPACE}.svc.cluster.local"

. /scripts/sentinel-primary.sh
primary=$(sentinel_primary)

umask 077
cat >/conf/redis.conf <<CONF
port 6379
dir /data
protected-mode no
requirepass ${REDISCLI_AUTH}
masterauth ${REDISCLI_AUTH}
# Sentinel, the other nodes and cpgw's --redis list all name this node by
# its stable DNS name, not its pod IP.
replica-announce-ip ${self}
replica-announce-port 6379
# cpgw keeps leases, fencing counters and idempotency records here: nothing
# may be evicted. Below the container's memory limit, so that Redis refuses
# writes before the kernel kills it.
maxmemory 1536mb
maxmemory-policy noeviction
appendonly yes
appendfsync everysec
CONF
if [ "$primary" != "$self" ]; then
	echo "replicaof ${primary} 6379" >>/conf/redis.conf
fi
echo "init-redis: ${self} starts with primary ${primary}"
