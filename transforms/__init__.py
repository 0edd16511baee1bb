"""Pure Polars transforms of pekppp: parsing rules, indices, roll-ups, predicates, ranks, rosters."""
