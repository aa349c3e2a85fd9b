-- Whether some of the rows read may be resolved through the key graph (1) or none may (0): one without an order
-- id that carries a key linking up to one (a shipment, return or invoice id): resolution.sql resolves only
-- such hops, so when there is none a query needs no resolution (transactions.resolution_needed). The rows:
-- biz_hops (its leading primary-key range, OrderId = ''), or the spans mapping rules make hops, narrowed to
-- the keys of {tree} or not (transactions.resolution_needed fills both in).
SELECT count() > 0
FROM (SELECT 1 FROM $rows
      WHERE OrderId = '' AND (ShipmentId != '' OR ReturnId != '' OR InvoiceId != '') $of_tree
      LIMIT 1)
