//! tracefs: where it is mounted (mounting it when needed), event categories, record formats.
