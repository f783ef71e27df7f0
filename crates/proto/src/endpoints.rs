//! Where the four services answer: what a client of all of them (the weekly report, the demo)
//! is given, "http://host:port" style, as the CLI's `--order-addr` … `--complaint-addr` give
//! them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub order: String,
    pub fleet: String,
    pub receivables: String,
    pub complaint: String,
}

impl Endpoints {
    /// The local cluster's ports (`deploy/local/run.sh`).
    pub fn local() -> Endpoints {
        Endpoints {
            order: "http://127.0.0.1:50051".into(),
            fleet: "http://127.0.0.1:50052".into(),
            receivables: "http://127.0.0.1:50053".into(),
            complaint: "http://127.0.0.1:50054".into(),
        }
    }
}
