//! Cross-service end-to-end tests (in `tests/`): the order and fleet services run in-process,
//! each with its own database, joined only by their event streams on one real nats-server —
//! as in production. This library is empty; it exists so the package has a target.
