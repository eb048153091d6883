"""Personal data in events: which fields are personal (`fields`), how they are sealed at
the source and opened by the agencies allowed to (`cipher`, `envelope`), where the data keys
live and how a person is erased by destroying them (`keystore`), who may read (`access`), and
the resident identity number's rules and masks (`idcard`). docs/personal-data.md tells the
whole story."""
