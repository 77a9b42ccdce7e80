"""Pure computation: arrays and tables in, arrays and tables out; spacing in mm; ValueError."""
