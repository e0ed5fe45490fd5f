"""The prune-sweep command line and sweep orchestration."""
