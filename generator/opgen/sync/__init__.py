"""Writing generated files: find descriptors, plan against disk and manifest, write atomically."""
