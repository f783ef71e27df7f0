-- One database per service (each service owns its projections; nothing is shared). Runs once,
-- when the data volume is first initialised; the services run their own migrations at start.
CREATE DATABASE rentops_order;
CREATE DATABASE rentops_fleet;
CREATE DATABASE rentops_receivables;
CREATE DATABASE rentops_complaint;
