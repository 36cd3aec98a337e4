-- The tenants' hubs: one database, a schema per tenant (created by `ledgerbridge tenants add`).
CREATE DATABASE hubs OWNER dagster;
