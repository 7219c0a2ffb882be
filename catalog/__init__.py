"""The tools on top of the stages: the `catalog` command line, the gateway's HTTP client, the
in-process runner, evaluation and the local cluster. They import services and shared;
nothing imports them."""
