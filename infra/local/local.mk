# Local SAM runs without Docker (podman stand-in); included by the Makefile.
# Owned by the container/SAM work (issue 3).
