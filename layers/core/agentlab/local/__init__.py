"""The local stack: AWS services in-process through moto, the real handlers, the real ASL files, one HTTP port."""
