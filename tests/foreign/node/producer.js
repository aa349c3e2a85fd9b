// An EDI-driven distributor's systems, instrumented with the plain OpenTelemetry JS SDK.
//
// Nothing of biztrace is used: each system is its own BasicTracerProvider (service.name = the
// system) with the stock OTLP/HTTP exporter, which sends OTLP/JSON. This producer's style:
// - no biz.process, no biz.system, no channel, priority or currency on any hop;
// - order.id on every order hop (and biz.amount where the system records one), but NO
//   shipment.id on invoices: invoices are posted for the whole order by `ar-billing`;
// - the WMS ships in several parcels (shipment.id + order.id, quantities only, no amounts);
// - returns: authorized with return.id + order.id, received by the ERP (`oracle-ebs`), later
//   hops carry return.id only;
// - system names nobody configured: edi-gateway, oracle-ebs, manhattan-wms, ar-billing, mulesoft.
//
// Usage: node producer.js --endpoint http://127.0.0.1:4318 --now 2026-11-20T12:00:00Z --truth t.json

'use strict';

const fs = require('fs');
const { trace, context, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');

const MIN = 60n * 1000000000n;
const HOUR = 60n * MIN;
const DAY = 24n * HOUR;
const O2C = 'order_to_cash';
const RET = 'returns';
const CUST = 'customer_master';

function args() {
  const parsed = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) parsed[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const name of ['endpoint', 'now', 'truth']) {
    if (!parsed[name]) throw new Error(`--${name} is required`);
  }
  return parsed;
}

function hrTime(ns) {
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}

class Producer {
  constructor(endpoint, now) {
    this.url = endpoint.replace(/\/$/, '') + '/v1/traces';
    this.now = now;
    this.nowNs = BigInt(Date.parse(now)) * 1000000n;
    this.providers = new Map();
    this.faults = [];
    this.clean = [];
    this.trees = {};
    this.spans = 0;
  }

  tracer(service) {
    if (!this.providers.has(service)) {
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'foreign-test' }),
        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: this.url }), { scheduledDelayMillis: 200 })],
      });
      this.providers.set(service, provider);
    }
    return this.providers.get(service).getTracer('edi-integration', '7.1.0');
  }

  // One span at now + atNs (negative: the past), recorded in `tree`.
  hop(tree, service, name, atNs, attributes, { parent, error, kind, durationMs } = {}) {
    const start = this.nowNs + atNs;
    const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
    const span = this.tracer(service).startSpan(
      name, { kind: kind ?? SpanKind.INTERNAL, attributes, startTime: hrTime(start), root: !parent }, ctx);
    if (error) {
      span.setAttribute('error.type', error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${name}: ${error}` });
    }
    span.end(hrTime(start + BigInt(durationMs ?? 180) * 1000000n));
    this.spans += 1;
    const entry = (this.trees[tree] ??= { keys: [], span_ids: [] });
    entry.span_ids.push(span.spanContext().spanId);
    for (const attribute of ['order.id', 'shipment.id', 'invoice.id', 'return.id']) {
      const value = attributes[attribute];
      if (value && !entry.keys.includes(value)) entry.keys.push(value);
    }
    return span;
  }

  fault(process, key, kind, stage, why, value) {
    this.faults.push({ process, key, kind, stage, value: value ?? null, why });
  }

  ok(process, key, why) {
    this.clean.push({ process, key, why });
  }

  // ---- the business ----------------------------------------------------------------------------

  capture(order, at, amount, quantity, event) {
    return this.hop(order, 'edi-gateway', 'EDI 850 inbound', at, {
      'order.id': order, 'customer.id': `ACCT-${order.split('-')[1]}`, 'biz.stage': 'order.captured',
      'biz.amount': amount, 'biz.quantity': quantity, 'biz.event_id': event ?? `ISA-${order}`,
    }, { kind: SpanKind.SERVER });
  }

  accept(order, at, amount, quantity) {
    return this.hop(order, 'oracle-ebs', 'OE_ORDER_PUB.process_order', at, {
      'order.id': order, 'biz.stage': 'order.accepted', 'biz.amount': amount, 'biz.quantity': quantity,
      'biz.event_id': `EBS-${order}-BOOK`,
    });
  }

  allocate(order, at, quantity, error) {
    return this.hop(order, 'manhattan-wms', 'ALLOCATE', at, {
      'order.id': order, 'biz.stage': 'inventory.allocated', 'biz.quantity': quantity,
      'biz.event_id': `MAWM-${order}-ALLOC`,
    }, { error });
  }

  ship(order, shipment, at, quantity) {
    return this.hop(order, 'manhattan-wms', 'SHIP_CONFIRM', at, {
      'order.id': order, 'shipment.id': shipment, 'biz.stage': 'shipment.confirmed', 'biz.quantity': quantity,
      'biz.event_id': `MAWM-${shipment}`,
    });
  }

  // ar-billing invoices the whole order: order id and invoice id, no shipment id
  invoice(order, invoice, at, amount, quantity, event) {
    return this.hop(order, 'ar-billing', 'AR invoice create', at, {
      'order.id': order, 'invoice.id': invoice, 'biz.stage': 'invoice.posted', 'biz.amount': amount,
      'biz.quantity': quantity, 'biz.event_id': event ?? `AR-${invoice}`,
    });
  }

  pay(order, invoice, at, amount) {
    return this.hop(order, 'ar-billing', 'AR cash receipt', at, {
      'order.id': order, 'invoice.id': invoice, 'biz.stage': 'payment.received', 'biz.amount': amount,
      'biz.event_id': `CASH-${invoice}`,
    });
  }

  returnOf(order, rma, at, quantity, credit) {
    const steps = [
      ['rma-portal', 'RMA create', 'return.authorized', 0n, { 'order.id': order }],
      ['oracle-ebs', 'RMA receipt', 'return.received', 3n * DAY, { 'biz.quantity': quantity }],
      ['oracle-ebs', 'RMA inspection', 'return.inspected', 4n * DAY, { 'biz.quantity': quantity }],
      ['oracle-ebs', 'RMA disposition', 'return.dispositioned', 4n * DAY + 2n * HOUR, {}],
      ['ar-billing', 'AR credit memo', 'credit_memo.posted', 5n * DAY, { 'biz.amount': credit, 'biz.quantity': quantity }],
    ];
    for (const [service, name, stage, offset, extra] of steps) {
      this.hop(order, service, name, at + offset, { 'return.id': rma, 'biz.stage': stage, 'biz.event_id': `${rma}-${stage}`, ...extra });
    }
  }

  world() {
    // clean: a whole order, one invoice for the order, paid; and its return, received by the ERP
    this.capture('EDI-2001', -12n * DAY, 1200.0, 24);
    this.accept('EDI-2001', -12n * DAY + 20n * MIN, 1200.0, 24);
    this.allocate('EDI-2001', -12n * DAY + 2n * HOUR, 24);
    this.ship('EDI-2001', 'ASN-2001', -11n * DAY, 24);
    this.invoice('EDI-2001', 'AR-2001', -11n * DAY + 6n * HOUR, 1200.0, 24);
    this.pay('EDI-2001', 'AR-2001', -6n * DAY, 1200.0);
    this.returnOf('EDI-2001', 'RA-2001', -8n * DAY, 2, 100.0);
    this.ok(O2C, 'EDI-2001', 'complete; invoice without shipment.id, posted by ar-billing');
    this.ok(RET, 'RA-2001', 'clean return: received by oracle-ebs; later hops carry only return.id');

    // clean: two parcels, one invoice for the whole order: reconciles at order level only
    this.capture('EDI-2002', -4n * DAY, 250.0, 5);
    this.accept('EDI-2002', -4n * DAY + 25n * MIN, 250.0, 5);
    this.allocate('EDI-2002', -4n * DAY + HOUR, 5);
    this.ship('EDI-2002', 'ASN-2002-A', -3n * DAY, 3);
    this.ship('EDI-2002', 'ASN-2002-B', -2n * DAY, 2);
    this.invoice('EDI-2002', 'AR-2002', -2n * DAY + 3n * HOUR, 250.0, 5);
    this.ok(O2C, 'EDI-2002', 'partial shipments 3 + 2 against one order-level invoice of 5');

    // stuck: the EDI order was captured 5 h ago and the ERP never booked it (SLA 1 h)
    this.capture('EDI-2101', -5n * HOUR, 310.0, 6);
    this.fault(O2C, 'EDI-2101', 'stuck', 'order.captured', 'captured 5 h ago, not accepted (SLA 1 h)', 310.0);

    // stuck: allocated 3 days ago, never shipped (SLA 48 h)
    this.capture('EDI-2102', -3n * DAY - 2n * HOUR, 880.0, 11);
    this.accept('EDI-2102', -3n * DAY - HOUR, 880.0, 11);
    this.allocate('EDI-2102', -3n * DAY, 11);
    this.fault(O2C, 'EDI-2102', 'stuck', 'inventory.allocated', 'allocated 3 days ago, not shipped (SLA 48 h)', 880.0);

    // failed: the WMS allocation times out
    this.capture('EDI-2201', -1n * DAY - HOUR, 60.0, 2);
    this.accept('EDI-2201', -1n * DAY - 30n * MIN, 60.0, 2);
    this.allocate('EDI-2201', -1n * DAY, 2, 'timeout');
    this.fault(O2C, 'EDI-2201', 'failed', 'inventory.allocated', 'manhattan-wms ALLOCATE ended in ERROR (timeout)', 60.0);

    // duplicate: ar-billing sends the same invoice event twice (two spans, one biz.event_id)
    this.capture('EDI-2301', -3n * DAY, 420.0, 7);
    this.accept('EDI-2301', -3n * DAY + 10n * MIN, 420.0, 7);
    this.allocate('EDI-2301', -3n * DAY + HOUR, 7);
    this.ship('EDI-2301', 'ASN-2301', -2n * DAY, 7);
    this.invoice('EDI-2301', 'AR-2301', -2n * DAY + 2n * HOUR, 420.0, 7, 'AR-AR-2301');
    this.invoice('EDI-2301', 'AR-2301', -2n * DAY + 2n * HOUR + 7n * MIN, 420.0, 7, 'AR-AR-2301');
    this.fault(O2C, 'EDI-2301', 'duplicate', 'invoice.posted', 'AR-AR-2301 delivered in two spans', 420.0);

    // dead letter: mulesoft parks the booked order on its way to the WMS
    const booked = this.accept('EDI-2401', -8n * HOUR, 150.0, 3);
    this.capture('EDI-2401', -8n * HOUR - 10n * MIN, 150.0, 3);
    this.hop('EDI-2401', 'mulesoft', 'wms-orders-queue receive', -8n * HOUR + 3n * MIN,
      { 'order.id': 'EDI-2401', 'biz.dead_letter': true }, { parent: booked, kind: SpanKind.CONSUMER });
    this.fault(O2C, 'EDI-2401', 'dead_letter', 'order.accepted', 'mulesoft parked the booked order', 150.0);

    // mismatch: invoiced 1450.00 against 1000.00 accepted, no shipment.id on the invoice
    this.capture('EDI-2501', -3n * DAY, 1000.0, 4);
    this.accept('EDI-2501', -3n * DAY + 15n * MIN, 1000.0, 4);
    this.allocate('EDI-2501', -3n * DAY + HOUR, 4);
    this.ship('EDI-2501', 'ASN-2501', -2n * DAY, 4);
    this.invoice('EDI-2501', 'AR-2501', -2n * DAY + 4n * HOUR, 1450.0, 4);
    this.fault(O2C, 'EDI-2501', 'mismatch', 'invoice.posted', 'amount: invoiced 1450.00, accepted 1000.00', 1000.0);

    // stuck customer master: validated 2 h 50 min ago, never synced (SLA 2 h)
    for (const [service, name, stage, at] of [['salesforce', 'Account update', 'customer.updated', -3n * HOUR],
      ['mdm', 'Account validate', 'customer.validated', -3n * HOUR + 10n * MIN]]) {
      this.hop('ACCT-9101', service, name, at, { 'customer.id': 'ACCT-9101', 'biz.stage': stage });
    }
    this.fault(CUST, 'ACCT-9101', 'stuck', 'customer.validated', 'validated 2 h 50 min ago, not synced (SLA 2 h)', null);

    // a customer updated again: the first cycle synced two days ago, the second was never validated (SLA 30 min)
    for (const [service, name, stage, at] of [['salesforce', 'Account update', 'customer.updated', -2n * DAY],
      ['mdm', 'Account validate', 'customer.validated', -2n * DAY + 10n * MIN],
      ['sap', 'Debtor sync', 'customer.synced', -2n * DAY + 50n * MIN],
      ['salesforce', 'Account update', 'customer.updated', -2n * HOUR]]) {
      this.hop('ACCT-9102', service, name, at, { 'customer.id': 'ACCT-9102', 'biz.stage': stage });
    }
    this.fault(CUST, 'ACCT-9102', 'stuck', 'customer.updated', 'second update cycle: not validated in 2 h (SLA 30 min)', null);
  }

  async close() {
    for (const provider of this.providers.values()) await provider.forceFlush();
    for (const provider of this.providers.values()) await provider.shutdown();
  }

  truth() {
    return { producer: 'node-sdk', now: this.now, spans: this.spans, faults: this.faults, clean: this.clean, trees: this.trees };
  }
}

async function main() {
  const options = args();
  const producer = new Producer(options.endpoint, options.now);
  try {
    producer.world();
  } finally {
    await producer.close();
  }
  fs.writeFileSync(options.truth, JSON.stringify(producer.truth(), null, 2));
}

main().catch((error) => {
  console.error(`node producer: ${error && error.message ? error.message : JSON.stringify(error)}`);
  process.exit(1);
});
