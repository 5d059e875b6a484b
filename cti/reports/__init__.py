"""Reports over the history: pure tables (seats, groups, outbound, calls), the period,
and the formats (JSON, CSV, Excel, SPSS)."""
