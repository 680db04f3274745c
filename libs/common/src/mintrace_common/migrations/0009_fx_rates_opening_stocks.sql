-- Registry extensions (SPEC §6): exchange rates to USD and declared opening stocks.
CREATE TABLE IF NOT EXISTS fx_rates (
    currency     text PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
    usd_per_unit numeric NOT NULL CHECK (usd_per_unit > 0),
    as_of        date,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS opening_stocks (
    facility_id text NOT NULL,
    material    text NOT NULL,
    quantity_kg numeric NOT NULL CHECK (quantity_kg >= 0),
    as_of       date,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (facility_id, material)
);
