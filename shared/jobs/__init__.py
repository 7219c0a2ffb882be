"""Jobs: a batch of photos with one set of options, each photo moving through the chain on
its own. records (what is stored), keys (where), store (reading, creating, deleting) and
lifecycle (the one place that changes a job's or a photo's status)."""
