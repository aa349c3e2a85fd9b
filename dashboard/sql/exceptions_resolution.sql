-- Time to resolve, over the resolved exceptions of the queue.
SELECT medianIf(resolution_s, state = 'resolved') AS median_s, quantileIf(0.9)(resolution_s, state = 'resolved') AS p90_s
FROM {queue:Identifier}
