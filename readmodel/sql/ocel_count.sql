-- How many events the OCEL log of [{since}, {until}) holds: its hops that reached a stage.
SELECT count() FROM (${hops}) WHERE Stage != ''
