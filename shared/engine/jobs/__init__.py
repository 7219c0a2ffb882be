"""Jobs: a batch of photos with one set of options, each photo moving through the chain on
its own. records (what is stored), keys (where), codec (how it is written in Redis), store
(reading, deleting), create (making a job, with its idempotency key), keeper (the storing
request's signs of life), abandoned (the files of requests that died half-way) and
lifecycle (the one place that changes a job's or a photo's status)."""
