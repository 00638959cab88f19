//! Deterministic generator of realistic Node.js CPU profiles as pprof.
//!
//! # The call graph
//!
//! All services share one fixed call graph of about 3,000 functions, in six
//! tiers from the event loop down:
//!
//! ```text
//! tier 0  HTTP framework       express router, body-parser, cors, helmet …  (node_modules)
//! tier 1  app entry points     /srv/app/src/{routes,controllers,middleware}/…
//! tier 2  app logic            /srv/app/src/{services,validators,jobs,handlers}/…
//! tier 3  app plumbing         /srv/app/src/{models,repositories,utils,…}/…
//! tier 4  libraries            pg, ioredis, mongoose, lodash, graphql, pino …  (node_modules)
//! tier 5  Node.js internals    node:events, node:internal/streams/…, node:buffer …
//! ```
//!
//! Every function has a fixed list of 2–4 callees in its own tier (express's
//! `next` → `Layer.handle` → `next` …, lodash calling itself) and in each tier
//! below. A stack starts with one of a few event-loop entry chains (an HTTP
//! request, a socket read, a promise continuation, a timer, an immediate) and
//! walks the callee lists down to a depth drawn from 10–40, spending most
//! frames in the framework and application tiers, so stacks look like real
//! ones: a Node.js root, framework and application frames in the middle, and
//! a leaf in application code, a library or at most four Node.js internals.
//!
//! # Profiles of a service
//!
//! Like a real process, each service runs its own part of the graph (the
//! application code of 8 of the 22 domain nouns, ~60 % of the packages, all
//! of express and Node.js) and has a stable set of code paths: 8,000 stacks
//! drawn once from its own seed, with Zipf weights (the `k`-th stack weighs
//! `1/k`). A profile draws its samples from that set, so a handful of
//! hot stacks dominate every profile, the tail varies between profiles, and
//! values vary too. With 5,000 samples a profile holds ~1,650 distinct stacks
//! (~2,000 pprof samples' worth of locations); over an hour every stack of
//! the set shows up.
//!
//! A profile is what Pyroscope's Go-style CPU pprof looks like: sample types
//! `samples/count` and `cpu/nanoseconds`, period type `cpu/nanoseconds` with
//! a 10 ms period, one location per function (file and line), no mappings,
//! one `Sample` per drawn sample (so stacks repeat within a profile, as they
//! do when samples carry different labels or are not pre-aggregated).

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use vispyr_proto::pprof::{Function, Line, Location, Profile, Sample, ValueType};

/// The CPU sampling period: 100 Hz.
pub const PERIOD_NS: i64 = 10_000_000;
/// Distinct stacks a service runs (its stable set of code paths).
pub const STACKS_PER_SERVICE: usize = 8_000;
/// Shallowest and deepest stacks, in frames.
pub const MIN_DEPTH: usize = 10;
pub const MAX_DEPTH: usize = 40;

/// Tiers of the call graph (see the module docs).
const TIERS: usize = 6;
const FRAMEWORK: usize = 0;
const APP_ENTRY: usize = 1;
const APP_LOGIC: usize = 2;
const APP_PLUMBING: usize = 3;
const LIBRARY: usize = 4;
const INTERNAL: usize = 5;

const NODE_MODULES: &str = "/srv/app/node_modules";
const APP_SRC: &str = "/srv/app/src";

/// Node.js built-in modules and some of their functions (tier 5), comma separated.
const NODE_INTERNALS: &[(&str, &str)] = &[
    (
        "node:events",
        "emit, once, onceWrapper, _addListener, removeListener",
    ),
    (
        "node:internal/process/task_queues",
        "processTicksAndRejections, runMicrotasks, runNextTicks",
    ),
    (
        "node:internal/timers",
        "listOnTimeout, processTimers, processImmediate, insert",
    ),
    (
        "node:_http_server",
        "parserOnIncoming, connectionListenerInternal, resOnFinish, ServerResponse.writeHead, onServerResponseClose",
    ),
    (
        "node:_http_common",
        "parserOnHeadersComplete, parserOnBody, parserOnMessageComplete, freeParser",
    ),
    (
        "node:_http_outgoing",
        "OutgoingMessage.end, OutgoingMessage.write, write_, _send, _writeRaw, processHeader, _storeHeader, setHeader",
    ),
    (
        "node:_http_client",
        "ClientRequest, request, parserOnIncomingClient, responseOnEnd, tickOnSocket",
    ),
    (
        "node:internal/streams/readable",
        "Readable.push, readableAddChunk, addChunk, Readable.read, flow, resume_, emitReadable_",
    ),
    (
        "node:internal/streams/writable",
        "Writable.write, _write, writeOrBuffer, onwrite, afterWrite, clearBuffer, Writable.end",
    ),
    (
        "node:internal/stream_base_commons",
        "onStreamRead, writeGeneric, writevGeneric, handleWriteReq, afterWriteDispatched",
    ),
    (
        "node:net",
        "Socket._writeGeneric, Socket._writev, Socket._final, Socket.write, Socket._read, tryReadStart, Socket.setNoDelay",
    ),
    (
        "node:buffer",
        "toString, from, concat, byteLength, Buffer.write, Buffer.slice, allocate",
    ),
    (
        "node:internal/buffer",
        "utf8Write, hexSlice, latin1Slice, utf8Slice, readUInt32BE",
    ),
    (
        "node:internal/crypto/hash",
        "Hash.update, Hash.digest, Hash, Hmac, Hmac.digest",
    ),
    (
        "node:crypto",
        "randomUUID, randomBytes, createHash, createHmac, timingSafeEqual",
    ),
    (
        "node:zlib",
        "processChunkSync, zlibBufferSync, Zlib._processChunk, gunzipSync, processCallback",
    ),
    (
        "node:internal/url",
        "URL, parse, URLSearchParams, toString, get href, isURL",
    ),
    (
        "node:querystring",
        "parse, unescape, stringify, escape, qsEscape",
    ),
    (
        "node:internal/util/inspect",
        "formatValue, formatRaw, inspect, formatWithOptions, formatPrimitive",
    ),
    (
        "node:internal/fs/promises",
        "readFile, open, read, readFileHandle",
    ),
    (
        "node:internal/modules/cjs/loader",
        "Module._load, Module.require, Module._compile, Module._resolveFilename",
    ),
    (
        "node:internal/async_hooks",
        "emitInit, executionAsyncResource, emitBeforeScript, emitAfterScript",
    ),
    (
        "node:async_hooks",
        "AsyncLocalStorage.run, AsyncLocalStorage.getStore, runInAsyncScope",
    ),
    ("node:dns", "lookup, onlookup, onlookupall"),
    (
        "node:internal/tls/wrap",
        "TLSSocket._start, onConnectSecure, TLSSocket._write, onnewsession",
    ),
    (
        "node:string_decoder",
        "StringDecoder.write, StringDecoder.end, utf8CheckIncomplete",
    ),
    (
        "node:internal/validators",
        "validateString, validateFunction, validateObject, validateNumber",
    ),
    (
        "node:internal/errors",
        "captureLargerStackTrace, hideStackFrames, NodeError, prepareStackTrace",
    ),
    (
        "node:path",
        "join, resolve, normalize, normalizeString, extname",
    ),
    ("node:internal/perf/utils", "now, getTimeOrigin"),
];

/// express, spelled out because every HTTP stack goes through it (tier 0).
const EXPRESS: &[(&str, &str)] = &[
    (
        "express/lib/router/layer.js",
        "Layer.handle [as handle_request], Layer.match, Layer.handle_error",
    ),
    (
        "express/lib/router/index.js",
        "next, handle, process_params, trim_prefix, router, restore, matchLayer",
    ),
    (
        "express/lib/router/route.js",
        "Route.dispatch, next, Route._handles_method",
    ),
    ("express/lib/application.js", "app.handle, app.init"),
    ("express/lib/express.js", "app"),
    (
        "express/lib/response.js",
        "res.json, res.send, res.status, res.set, res.end",
    ),
    ("express/lib/request.js", "req.get, req.accepts"),
    ("express/lib/middleware/init.js", "expressInit"),
    ("express/lib/middleware/query.js", "query"),
];

/// npm packages: `(tier, package, files (space separated), functions (comma
/// separated))`; each file gets the functions at its position modulo the number of
/// files, plus an `(anonymous)`.
const PACKAGES: &[(usize, &str, &str, &str)] = &[
    (
        FRAMEWORK,
        "body-parser",
        "lib/types/json.js lib/read.js index.js",
        "jsonParser, read, parse, getCharset, typeis, urlencodedParser",
    ),
    (
        FRAMEWORK,
        "cors",
        "lib/index.js",
        "corsMiddleware, configureOrigin, applyHeaders, cors",
    ),
    (
        FRAMEWORK,
        "helmet",
        "index.cjs",
        "helmetMiddleware, contentSecurityPolicy, getHeaderValue, strictTransportSecurity",
    ),
    (
        FRAMEWORK,
        "compression",
        "index.js",
        "compression, shouldCompress, shouldTransform, onData",
    ),
    (
        FRAMEWORK,
        "cookie-parser",
        "index.js",
        "cookieParser, JSONCookies, signedCookies",
    ),
    (
        FRAMEWORK,
        "morgan",
        "index.js",
        "logger, compile, getip, format, recordStartTime",
    ),
    (
        FRAMEWORK,
        "@opentelemetry/instrumentation-http",
        "build/src/http.js build/src/utils.js",
        "incomingRequest, outgoingRequest, _traceClientRequest, getIncomingRequestAttributes, setSpanWithError",
    ),
    (
        LIBRARY,
        "raw-body",
        "index.js",
        "getRawBody, readStream, onData, onEnd, done",
    ),
    (
        LIBRARY,
        "pg",
        "lib/client.js lib/query.js lib/result.js lib/connection.js",
        "Client.query, Client._pulseQueryQueue, Query.handleDataRow, Query.handleRowDescription, Query.submit, Result.parseRow, Result.addFields, Connection.attachListeners, Client._handleReadyForQuery",
    ),
    (
        LIBRARY,
        "pg-protocol",
        "dist/parser.js dist/serializer.js dist/buffer-reader.js dist/buffer-writer.js",
        "Parser.parse, Parser.handlePacket, Parser.parseDataRowMessage, BufferReader.string, BufferReader.cstring, serialize.query, Writer.addCString, Parser.mergeBuffer",
    ),
    (
        LIBRARY,
        "pg-types",
        "lib/textParsers.js lib/arrayParser.js lib/binaryParsers.js",
        "parseDate, parseInteger, parseBool, parseJson, parseTimestamp, parseStringArray",
    ),
    (
        LIBRARY,
        "pg-pool",
        "index.js",
        "Pool.connect, Pool._acquireClient, Pool.query, Pool._release, Pool._pulseQueue",
    ),
    (
        LIBRARY,
        "ioredis",
        "built/Redis.js built/Command.js built/DataHandler.js built/Pipeline.js built/utils/Commander.js",
        "Redis.sendCommand, Command.toWritable, DataHandler.returnReply, Pipeline.exec, Command.resolve, Commander.get, Commander.set, Command.transformReply, DataHandler.shiftCommand",
    ),
    (
        LIBRARY,
        "redis-parser",
        "lib/parser.js",
        "parseType, parseBulkString, JavascriptRedisParser.execute, parseArray, parseSimpleString",
    ),
    (
        LIBRARY,
        "mongoose",
        "lib/query.js lib/document.js lib/schema.js lib/model.js lib/helpers/document/compile.js lib/schematype.js",
        "Query.exec, Query._find, Query._findOne, Document.$__init, Document.toObject, Document.$set, Model.hydrate, Schema.path, init, applyGetters, SchemaType.cast, SchemaType.applySetters",
    ),
    (
        LIBRARY,
        "mongodb",
        "lib/cursor/abstract_cursor.js lib/cmap/connection.js lib/cmap/wire_protocol/on_demand/document.js lib/operations/execute_operation.js",
        "AbstractCursor.next, Connection.command, OnDemandDocument.toObject, executeOperation, Connection.sendCommand, tryOperation",
    ),
    (
        LIBRARY,
        "bson",
        "lib/bson.cjs",
        "deserializeObject, serializeInto, calculateObjectSize, ObjectId.toHexString, internalDeserialize, serializeObject",
    ),
    (
        LIBRARY,
        "lodash",
        "lodash.js",
        "baseClone, cloneDeep, baseMerge, baseMergeDeep, baseGet, get, set, baseFlatten, map, arrayMap, isEqual, baseIsEqualDeep, equalObjects, debounce, template, baseFor, keys, arrayEach",
    ),
    (
        LIBRARY,
        "axios",
        "lib/core/Axios.js lib/adapters/http.js lib/core/dispatchRequest.js lib/helpers/buildURL.js lib/core/mergeConfig.js lib/core/transformData.js",
        "Axios.request, Axios._request, dispatchRequest, httpAdapter, buildURL, mergeConfig, transformData, settle, dispatchHttpRequest",
    ),
    (
        LIBRARY,
        "follow-redirects",
        "index.js",
        "RedirectableRequest._performRequest, RedirectableRequest.write, RedirectableRequest._processResponse, wrap",
    ),
    (
        LIBRARY,
        "jsonwebtoken",
        "verify.js sign.js decode.js",
        "verify, sign, decode, getSecret, validate",
    ),
    (
        LIBRARY,
        "jws",
        "lib/verify-stream.js lib/sign-stream.js",
        "jwsVerify, jwsSign, jwsDecode, safeJsonParse, headerFromJWS",
    ),
    (
        LIBRARY,
        "jwa",
        "index.js",
        "verify, sign, createHmacSigner, createKeyVerifier, createHmacVerifier",
    ),
    (
        LIBRARY,
        "bcryptjs",
        "dist/bcrypt.js",
        "_crypt, _encipher, _key, _ekskey, hashSync, compareSync, next",
    ),
    (
        LIBRARY,
        "ajv",
        "dist/compile/index.js dist/core.js dist/compile/validate/index.js",
        "validate, compileSchema, Ajv.compile, Ajv._addSchema, validateFunction, checkKeywords, validate10, validate21",
    ),
    (
        LIBRARY,
        "zod",
        "lib/types.js lib/helpers/parseUtil.js",
        "ZodObject._parse, ZodString._parse, ParseStatus.mergeObjectSync, ZodType.safeParse, ZodArray._parse, ZodOptional._parse, ZodType._parseSync, ZodEffects._parse",
    ),
    (
        LIBRARY,
        "graphql",
        "execution/execute.js language/parser.js validation/validate.js type/definition.js language/visitor.js",
        "execute, executeOperation, executeFields, executeField, completeValue, completeObjectValue, completeListValue, resolveField, Parser.parseDocument, validate, visit, collectFields",
    ),
    (
        LIBRARY,
        "pino",
        "lib/proto.js lib/tools.js lib/levels.js",
        "LOG, write, asJson, genLog, mixin, stringify",
    ),
    (
        LIBRARY,
        "sonic-boom",
        "index.js",
        "SonicBoom.write, actualWrite, release, SonicBoom.flush",
    ),
    (
        LIBRARY,
        "safe-stable-stringify",
        "index.js",
        "stringify, stringifySimple, stringifyFnReplacer, strEscape",
    ),
    (
        LIBRARY,
        "winston",
        "lib/winston/logger.js lib/winston/transports/console.js",
        "DerivedLogger.log, Logger.write, Console.log, Logger._transform",
    ),
    (
        LIBRARY,
        "logform",
        "json.js combine.js timestamp.js",
        "cascade, format, transform, jsonFormatter",
    ),
    (
        LIBRARY,
        "moment",
        "moment.js",
        "createLocalOrUTC, configFromString, format, formatMoment, add, diff, configFromISO",
    ),
    (
        LIBRARY,
        "dayjs",
        "dayjs.min.js",
        "format, parse, add, $init, startOf",
    ),
    (
        LIBRARY,
        "uuid",
        "dist/v4.js dist/stringify.js dist/rng.js",
        "v4, unsafeStringify, rng",
    ),
    (
        LIBRARY,
        "qs",
        "lib/parse.js lib/stringify.js lib/utils.js",
        "parse, parseValues, parseObject, stringify, merge, encode, decode, compact",
    ),
    (
        LIBRARY,
        "iconv-lite",
        "lib/index.js encodings/internal.js",
        "decode, encode, InternalDecoder.write, getDecoder, getCodec",
    ),
    (
        LIBRARY,
        "debug",
        "src/common.js src/node.js",
        "debug, createDebug, enabled, formatArgs",
    ),
    (
        LIBRARY,
        "@opentelemetry/api",
        "build/src/api/context.js build/src/api/trace.js",
        "ContextAPI.with, ContextAPI.active, TraceAPI.getSpan, ContextAPI._getContextManager",
    ),
    (
        LIBRARY,
        "@opentelemetry/sdk-trace-base",
        "build/src/Span.js build/src/Tracer.js build/src/export/BatchSpanProcessorBase.js",
        "Span.end, Span.setAttribute, Tracer.startSpan, BatchSpanProcessorBase.onEnd, Span.setAttributes, BatchSpanProcessorBase._addToBuffer",
    ),
    (
        LIBRARY,
        "handlebars",
        "dist/cjs/handlebars/runtime.js dist/cjs/handlebars/compiler/compiler.js",
        "invokePartial, template, wrapProgram, compile, ret, prog",
    ),
    (
        LIBRARY,
        "ejs",
        "lib/ejs.js",
        "compile, render, Template.compile, rethrow, handleCache",
    ),
    (
        LIBRARY,
        "prom-client",
        "lib/histogram.js lib/registry.js lib/counter.js",
        "Histogram.observe, Registry.metrics, Registry.getMetricsAsString, Counter.inc, observe",
    ),
    (
        LIBRARY,
        "ws",
        "lib/receiver.js lib/sender.js lib/websocket.js",
        "Receiver.getData, Receiver.startLoop, Sender.sendFrame, WebSocket.send, Receiver.dataMessage, Sender.frame",
    ),
    (
        LIBRARY,
        "kafkajs",
        "src/consumer/runner.js src/protocol/decoder.js src/protocol/encoder.js src/consumer/batch.js",
        "Runner.processEachMessage, Decoder.readString, Encoder.writeInt32, Batch, Runner.fetch, Decoder.readArray, Encoder.writeBytes",
    ),
    (
        LIBRARY,
        "undici",
        "lib/web/fetch/index.js lib/dispatcher/client.js lib/core/request.js lib/dispatcher/client-h1.js",
        "fetch, mainFetch, httpNetworkFetch, Client.dispatch, Parser.execute, onHeadersComplete, Request.onData, writeH1",
    ),
    (
        LIBRARY,
        "@prisma/client",
        "runtime/library.js",
        "request, requestBatch, DataLoader.load, deserializeJsonResponse, serializeJsonQuery, _executeRequest",
    ),
    (
        LIBRARY,
        "knex",
        "lib/execution/runner.js lib/query/querybuilder.js lib/query/querycompiler.js",
        "Runner.run, Runner.query, QueryCompiler.toSQL, QueryCompiler.select, Builder.where, QueryCompiler.where",
    ),
    (
        LIBRARY,
        "sequelize",
        "lib/model.js lib/dialects/abstract/query-generator.js lib/dialects/postgres/query.js",
        "Model.findAll, Model._injectScope, QueryGenerator.selectQuery, Query.run, Query.formatResults, Model.bulkBuild",
    ),
    (
        LIBRARY,
        "joi",
        "lib/validator.js lib/types/keys.js lib/base.js",
        "entry, validate, internals.validate, keys.validate, Base.$_validate",
    ),
    (
        LIBRARY,
        "date-fns",
        "format/index.js parseISO/index.js _lib/format/formatters/index.js",
        "format, parseISO, formatters.d, splitDateString, parseDate",
    ),
];

/// `(directory, tier, file-name suffix)` of the application's own code.
const APP_DIRS: &[(&str, usize, &str)] = &[
    ("routes", APP_ENTRY, "Routes"),
    ("controllers", APP_ENTRY, "Controller"),
    ("middleware", APP_ENTRY, "Middleware"),
    ("services", APP_LOGIC, "Service"),
    ("validators", APP_LOGIC, "Validator"),
    ("jobs", APP_LOGIC, "Job"),
    ("handlers", APP_LOGIC, "Handler"),
    ("models", APP_PLUMBING, ""),
    ("repositories", APP_PLUMBING, "Repository"),
    ("utils", APP_PLUMBING, "Utils"),
    ("serializers", APP_PLUMBING, "Serializer"),
    ("clients", APP_PLUMBING, "Client"),
];

const APP_NOUNS: &[&str] = &[
    "user",
    "order",
    "cart",
    "product",
    "payment",
    "invoice",
    "session",
    "auth",
    "inventory",
    "shipment",
    "review",
    "search",
    "notification",
    "report",
    "account",
    "catalog",
    "pricing",
    "discount",
    "webhook",
    "audit",
    "subscription",
    "address",
];

const APP_VERBS: &[&str] = &[
    "get",
    "find",
    "create",
    "update",
    "delete",
    "list",
    "validate",
    "serialize",
    "build",
    "compute",
    "load",
    "save",
    "fetch",
    "handle",
    "process",
    "map",
    "normalize",
    "check",
    "apply",
    "render",
    "resolve",
    "enrich",
];

const APP_QUALIFIERS: &[&str] = &[
    "", "ById", "s", "Items", "Summary", "ForUser", "Batch", "Cached", "Totals", "Payload",
];

/// One event-loop entry chain: `(weight, frames as (file, function) root first,
/// tier the walk continues in)`.
type EntryChain = (u32, &'static [(&'static str, &'static str)], usize);

/// Event-loop entry chains.
const ENTRY_CHAINS: &[EntryChain] = &[
    (
        60,
        &[
            ("node:_http_common", "parserOnHeadersComplete"),
            ("node:_http_server", "parserOnIncoming"),
            ("node:events", "emit"),
            ("express/lib/express.js", "app"),
            ("express/lib/application.js", "app.handle"),
            ("express/lib/router/index.js", "handle"),
        ],
        FRAMEWORK,
    ),
    (
        15,
        &[
            ("node:internal/stream_base_commons", "onStreamRead"),
            ("node:internal/streams/readable", "Readable.push"),
            ("node:internal/streams/readable", "readableAddChunk"),
            ("node:internal/streams/readable", "addChunk"),
            ("node:events", "emit"),
        ],
        LIBRARY,
    ),
    (
        15,
        &[(
            "node:internal/process/task_queues",
            "processTicksAndRejections",
        )],
        APP_LOGIC,
    ),
    (
        7,
        &[
            ("node:internal/timers", "processTimers"),
            ("node:internal/timers", "listOnTimeout"),
        ],
        APP_LOGIC,
    ),
    (
        3,
        &[("node:internal/timers", "processImmediate")],
        APP_PLUMBING,
    ),
];

/// Which services may run a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Node.js internals and express: every service.
    Shared,
    /// Services that depend on this package (index into [`PACKAGES`]).
    Package(usize),
    /// Services whose domain includes this noun (index into [`APP_NOUNS`]).
    Noun(usize),
}

/// One function of the call graph, which is also one pprof location.
#[derive(Debug, Clone)]
struct Func {
    name: String,
    file: String,
    /// The line of the location that samples it.
    line: i64,
    tier: usize,
    owner: Owner,
}

/// The part of the call graph one service runs: its own domain (a few of
/// [`APP_NOUNS`]) and its own dependencies (some of [`PACKAGES`]).
struct ServiceView {
    allowed: Vec<bool>,
    /// Allowed function ids of each tier.
    tiers: Vec<Vec<u32>>,
}

/// Nouns of a service's domain, and the share of packages it depends on.
const NOUNS_PER_SERVICE: usize = 8;
const PACKAGE_SHARE: f64 = 0.6;

impl ServiceView {
    fn new(graph: &CallGraph, rng: &mut SmallRng) -> ServiceView {
        let mut nouns: Vec<usize> = (0..APP_NOUNS.len()).collect();
        nouns.shuffle(rng);
        nouns.truncate(NOUNS_PER_SERVICE);
        let packages: Vec<bool> = (0..PACKAGES.len())
            .map(|_| rng.random_bool(PACKAGE_SHARE))
            .collect();
        let allowed: Vec<bool> = graph
            .functions
            .iter()
            .map(|f| match f.owner {
                Owner::Shared => true,
                Owner::Package(p) => packages[p],
                Owner::Noun(n) => nouns.contains(&n),
            })
            .collect();
        let tiers = graph
            .tiers
            .iter()
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|&id| allowed[id as usize])
                    .collect()
            })
            .collect();
        ServiceView { allowed, tiers }
    }

    /// One of `callees` this service runs, or else any of its functions in `tier`.
    fn pick(&self, rng: &mut SmallRng, callees: &[u32], tier: usize) -> u32 {
        let mut candidates = [0u32; 8];
        let mut count = 0;
        for &id in callees.iter().filter(|&&id| self.allowed[id as usize]) {
            if count < candidates.len() {
                candidates[count] = id;
                count += 1;
            }
        }
        if count > 0 {
            candidates[rng.random_range(0..count)]
        } else {
            pick(rng, &self.tiers[tier])
        }
    }
}

/// The fixed call graph all services share.
struct CallGraph {
    functions: Vec<Func>,
    /// Callees of each function, by tier (none in tiers above its own).
    callees: Vec<[Vec<u32>; TIERS]>,
    /// Function ids of each tier, without the event-loop roots.
    tiers: Vec<Vec<u32>>,
    /// Entry chains as function ids, with their weight and continuation tier.
    entries: Vec<(u32, Vec<u32>, usize)>,
}

fn module_file(module: &str) -> String {
    if module.starts_with("node:") {
        module.to_owned()
    } else {
        format!("{NODE_MODULES}/{module}")
    }
}

impl CallGraph {
    fn build(rng: &mut SmallRng) -> CallGraph {
        let mut functions = Vec::new();
        let push = |functions: &mut Vec<Func>,
                    rng: &mut SmallRng,
                    name: &str,
                    file: String,
                    (tier, owner): (usize, Owner)| {
            functions.push(Func {
                name: name.to_owned(),
                file,
                line: rng.random_range(12..900),
                tier,
                owner,
            });
        };
        for (module, names) in NODE_INTERNALS {
            for name in names.split(", ") {
                let file = (*module).to_owned();
                push(&mut functions, rng, name, file, (INTERNAL, Owner::Shared));
            }
        }
        for (file, names) in EXPRESS {
            for name in names.split(", ") {
                let file = module_file(file);
                push(&mut functions, rng, name, file, (FRAMEWORK, Owner::Shared));
            }
        }
        for (index, (tier, package, files, names)) in PACKAGES.iter().enumerate() {
            let owner = (*tier, Owner::Package(index));
            let files: Vec<&str> = files.split_whitespace().collect();
            for (position, file) in files.iter().enumerate() {
                let path = format!("{NODE_MODULES}/{package}/{file}");
                for name in names.split(", ").skip(position).step_by(files.len()) {
                    push(&mut functions, rng, name, path.clone(), owner);
                }
                push(&mut functions, rng, "(anonymous)", path, owner);
            }
        }
        for (dir, tier, suffix) in APP_DIRS {
            for (noun_index, noun) in APP_NOUNS.iter().enumerate() {
                let owner = (*tier, Owner::Noun(noun_index));
                let path = format!("{APP_SRC}/{dir}/{noun}{suffix}.js");
                let capitalised = capitalise(noun);
                // Each file has 9–12 functions: verb + noun + qualifier.
                let count = 9 + (functions.len() % 4);
                let mut names = Vec::with_capacity(count + 1);
                while names.len() < count {
                    let verb = APP_VERBS[rng.random_range(0..APP_VERBS.len())];
                    let qualifier = APP_QUALIFIERS[rng.random_range(0..APP_QUALIFIERS.len())];
                    let name = format!("{verb}{capitalised}{qualifier}");
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                names.push("(anonymous)".to_owned());
                for name in &names {
                    push(&mut functions, rng, name, path.clone(), owner);
                }
            }
        }

        let find = |file: &str, name: &str| -> u32 {
            let file = module_file(file);
            functions
                .iter()
                .position(|f| f.file == file && f.name == name)
                .map(|i| i as u32)
                .unwrap_or_else(|| panic!("entry frame {file}:{name} is in the call graph"))
        };
        let entries: Vec<(u32, Vec<u32>, usize)> = ENTRY_CHAINS
            .iter()
            .map(|(weight, frames, tier)| {
                let chain = frames.iter().map(|(file, name)| find(file, name)).collect();
                (*weight, chain, *tier)
            })
            .collect();
        // Event-loop roots are never called by other functions.
        let roots: Vec<u32> = entries.iter().map(|(_, chain, _)| chain[0]).collect();

        let mut tiers: Vec<Vec<u32>> = vec![Vec::new(); TIERS];
        for (id, function) in functions.iter().enumerate() {
            if !roots.contains(&(id as u32)) {
                tiers[function.tier].push(id as u32);
            }
        }
        // 2–4 callees in the caller's own tier and in each tier below it.
        let callees = functions
            .iter()
            .map(|function| {
                let mut by_tier: [Vec<u32>; TIERS] = Default::default();
                for (tier, callees) in by_tier.iter_mut().enumerate().skip(function.tier) {
                    *callees = (0..rng.random_range(2..=4))
                        .map(|_| pick(rng, &tiers[tier]))
                        .collect();
                }
                by_tier
            })
            .collect();
        CallGraph {
            functions,
            callees,
            tiers,
            entries,
        }
    }

    /// One stack of `service`, root first, of a depth drawn from
    /// `MIN_DEPTH..=MAX_DEPTH`: an entry chain, then a walk down the callee
    /// lists that spends its frames tier by tier (see [`tier_plan`]).
    fn walk(&self, service: &ServiceView, rng: &mut SmallRng) -> Vec<u32> {
        let depth = rng.random_range(MIN_DEPTH..=MAX_DEPTH);
        let total: u32 = self.entries.iter().map(|e| e.0).sum();
        let mut roll = rng.random_range(0..total);
        let (chain, start_tier) = self
            .entries
            .iter()
            .find_map(|(weight, chain, tier)| {
                if roll < *weight {
                    Some((chain, *tier))
                } else {
                    roll -= weight;
                    None
                }
            })
            .unwrap_or((&self.entries[0].1, self.entries[0].2));
        let mut stack: Vec<u32> = chain.clone();
        let plan = tier_plan(rng, start_tier, depth.saturating_sub(stack.len()).max(1));
        let mut current = pick(rng, &service.tiers[plan[0]]);
        stack.push(current);
        for &tier in &plan[1..] {
            current = service.pick(rng, &self.callees[current as usize][tier], tier);
            stack.push(current);
        }
        stack
    }
}

/// The tier of each of `frames` frames below an entry chain: every tier from
/// `start` down to a leaf tier (application plumbing, a library or Node.js
/// itself) gets at least one frame while there are enough, and the rest go
/// mostly to the framework and application tiers (express middleware chains,
/// nested application calls); Node.js internals get at most four.
fn tier_plan(rng: &mut SmallRng, start: usize, frames: usize) -> Vec<usize> {
    const WEIGHTS: [f64; TIERS] = [3.0, 2.0, 2.0, 2.0, 2.0, 0.5];
    const MAX_INTERNAL: usize = 4;
    let leaf = match rng.random_range(0..10) {
        0 | 1 => APP_PLUMBING,
        2..=5 => LIBRARY,
        _ => INTERNAL,
    }
    .max(start);
    let mut counts = [0usize; TIERS];
    let mut left = frames;
    for count in counts.iter_mut().take(leaf + 1).skip(start) {
        if left == 0 {
            break;
        }
        *count = 1;
        left -= 1;
    }
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(start);
    while left > 0 {
        let open = |tier: usize| tier != INTERNAL || counts[tier] < MAX_INTERNAL;
        let total: f64 = (start..=last)
            .filter(|&t| open(t))
            .map(|t| WEIGHTS[t])
            .sum();
        let mut roll = rng.random::<f64>() * total;
        let mut chosen = start;
        for tier in (start..=last).filter(|&t| open(t)) {
            chosen = tier;
            if roll < WEIGHTS[tier] {
                break;
            }
            roll -= WEIGHTS[tier];
        }
        counts[chosen] += 1;
        left -= 1;
    }
    counts
        .iter()
        .enumerate()
        .flat_map(|(tier, &count)| std::iter::repeat_n(tier, count))
        .collect()
}

fn pick(rng: &mut SmallRng, ids: &[u32]) -> u32 {
    ids[rng.random_range(0..ids.len())]
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// One service's stable set of stacks and their cumulative Zipf weights.
struct ServiceStacks {
    stacks: Vec<Vec<u32>>,
    cumulative: Vec<f64>,
}

impl ServiceStacks {
    fn draw(&self, rng: &mut SmallRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= target)
            .min(self.stacks.len() - 1)
    }
}

/// A generated profile, encoded.
#[derive(Debug, Clone)]
pub struct GeneratedProfile {
    /// Index of the service (`svc-{service + 1}`).
    pub service: usize,
    /// The gzipped pprof.
    pub gzipped: Bytes,
    /// Size of the pprof before gzip.
    pub pprof_bytes: usize,
    pub samples: usize,
    /// Distinct stacks among the samples.
    pub distinct_stacks: usize,
    pub locations: usize,
    /// Gzipped size of the same profile with the samples of each stack summed
    /// into one (as Go's `runtime/pprof` writes them), when asked for.
    pub aggregated_gzip_bytes: Option<usize>,
}

/// Seeded, deterministic generator of Node.js CPU profiles for `services`
/// services.
pub struct ProfileGenerator {
    graph: CallGraph,
    services: Vec<ServiceStacks>,
    rng: SmallRng,
}

/// The name of service `index` (zero-based): `svc-1`, `svc-2` …
pub fn service_name(index: usize) -> String {
    format!("svc-{}", index + 1)
}

impl ProfileGenerator {
    /// Builds the call graph (from `seed`) and each service's stacks (from
    /// `seed` and the service's index, so a service's code paths do not depend
    /// on how many services there are).
    pub fn new(seed: u64, services: usize) -> ProfileGenerator {
        let mut graph_rng = SmallRng::seed_from_u64(seed);
        let graph = CallGraph::build(&mut graph_rng);
        let services = (0..services)
            .map(|index| {
                let mut rng = SmallRng::seed_from_u64(
                    seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let view = ServiceView::new(&graph, &mut rng);
                let stacks: Vec<Vec<u32>> = (0..STACKS_PER_SERVICE)
                    .map(|_| graph.walk(&view, &mut rng))
                    .collect();
                let mut cumulative = Vec::with_capacity(stacks.len());
                let mut sum = 0.0;
                for rank in 1..=stacks.len() {
                    sum += 1.0 / rank as f64;
                    cumulative.push(sum);
                }
                ServiceStacks { stacks, cumulative }
            })
            .collect();
        ProfileGenerator {
            graph,
            services,
            rng: SmallRng::seed_from_u64(seed.rotate_left(17) ^ 0x5EED),
        }
    }

    /// Number of functions in the call graph.
    #[cfg(test)]
    pub fn function_count(&self) -> usize {
        self.graph.functions.len()
    }

    /// A CPU profile of `service` with `samples` samples. `time_nanos` goes
    /// into the profile (0 leaves it to the server to take `from`).
    pub fn profile(
        &mut self,
        service: usize,
        samples: usize,
        time_nanos: i64,
        duration_nanos: i64,
    ) -> Profile {
        let stacks = &self.services[service];
        let mut builder = PprofBuilder::default();
        let samples_type = builder.value_type("samples", "count");
        let cpu_type = builder.value_type("cpu", "nanoseconds");
        let mut drawn = Vec::with_capacity(samples);
        for _ in 0..samples {
            let stack = stacks.draw(&mut self.rng);
            // Mostly single ticks; sometimes several ticks were aggregated.
            let count: i64 = if self.rng.random_bool(0.7) {
                1
            } else {
                self.rng.random_range(2..=6)
            };
            let location_id: Vec<u64> = stacks.stacks[stack]
                .iter()
                .rev() // pprof lists the leaf first
                .map(|&f| builder.location(&self.graph.functions[f as usize], f))
                .collect();
            drawn.push(Sample {
                location_id,
                value: vec![count, count * PERIOD_NS],
                label: Vec::new(),
            });
        }
        let mut profile = builder.finish();
        profile.sample_type = vec![samples_type, cpu_type];
        profile.period_type = Some(cpu_type);
        profile.period = PERIOD_NS;
        profile.sample = drawn;
        profile.time_nanos = time_nanos;
        profile.duration_nanos = duration_nanos;
        profile
    }

    /// [`Self::profile`], encoded and gzipped (default level, as Node's
    /// `@datadog/pprof` and Go's `runtime/pprof` do). With `measure_aggregated`
    /// the size of the aggregated equivalent is measured too (one more gzip).
    pub fn encoded(
        &mut self,
        service: usize,
        samples: usize,
        time_nanos: i64,
        duration_nanos: i64,
        measure_aggregated: bool,
    ) -> Result<GeneratedProfile> {
        let profile = self.profile(service, samples, time_nanos, duration_nanos);
        let aggregated = aggregate(&profile);
        let raw = profile.encode_to_vec();
        let gzipped = gzip(&raw)?;
        let aggregated_gzip_bytes = if measure_aggregated {
            Some(gzip(&aggregated.encode_to_vec())?.len())
        } else {
            None
        };
        Ok(GeneratedProfile {
            service,
            gzipped: Bytes::from(gzipped),
            pprof_bytes: raw.len(),
            samples: profile.sample.len(),
            distinct_stacks: aggregated.sample.len(),
            locations: profile.location.len(),
            aggregated_gzip_bytes,
        })
    }
}

fn gzip(raw: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(raw.len() / 3), Compression::default());
    encoder.write_all(raw).context("gzip")?;
    encoder.finish().context("gzip")
}

/// `profile` with the values of samples of equal stacks summed, in first-seen order.
fn aggregate(profile: &Profile) -> Profile {
    let mut index: HashMap<&[u64], usize> = HashMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    for sample in &profile.sample {
        match index.get(sample.location_id.as_slice()) {
            Some(&i) => {
                for (sum, value) in samples[i].value.iter_mut().zip(&sample.value) {
                    *sum += value;
                }
            }
            None => {
                index.insert(&sample.location_id, samples.len());
                samples.push(sample.clone());
            }
        }
    }
    Profile {
        sample: samples,
        ..profile.clone()
    }
}

/// Builds a pprof's string, function and location tables as samples refer to them.
#[derive(Default)]
struct PprofBuilder {
    strings: Vec<String>,
    string_index: HashMap<String, i64>,
    functions: Vec<Function>,
    locations: Vec<Location>,
    /// Call-graph function id → pprof location id (= function id).
    location_of: HashMap<u32, u64>,
}

impl PprofBuilder {
    fn string(&mut self, text: &str) -> i64 {
        if self.strings.is_empty() {
            self.strings.push(String::new());
            self.string_index.insert(String::new(), 0);
        }
        if let Some(&index) = self.string_index.get(text) {
            return index;
        }
        let index = self.strings.len() as i64;
        self.strings.push(text.to_owned());
        self.string_index.insert(text.to_owned(), index);
        index
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(kind),
            unit: self.string(unit),
        }
    }

    fn location(&mut self, function: &Func, graph_id: u32) -> u64 {
        if let Some(&id) = self.location_of.get(&graph_id) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        let name = self.string(&function.name);
        let filename = self.string(&function.file);
        self.functions.push(Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: (function.line - 5).max(1),
        });
        self.locations.push(Location {
            id,
            mapping_id: 0,
            address: 0,
            line: vec![Line {
                function_id: id,
                line: function.line,
                column: 0,
            }],
            is_folded: false,
        });
        self.location_of.insert(graph_id, id);
        id
    }

    fn finish(mut self) -> Profile {
        self.string("");
        Profile {
            string_table: self.strings,
            function: self.functions,
            location: self.locations,
            ..Profile::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn frames(profile: &Profile, sample: &Sample) -> Vec<(String, String)> {
        sample
            .location_id
            .iter()
            .map(|&id| {
                let location = &profile.location[id as usize - 1];
                let function = &profile.function[location.line[0].function_id as usize - 1];
                (
                    profile.string_table[function.name as usize].clone(),
                    profile.string_table[function.filename as usize].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn profiles_look_like_node_cpu_profiles() {
        let mut generator = ProfileGenerator::new(1, 3);
        assert!(
            (2_500..4_000).contains(&generator.function_count()),
            "{} functions",
            generator.function_count()
        );
        let generated = generator
            .encoded(0, 5_000, 0, 10_000_000_000, true)
            .unwrap();
        assert!(generated.aggregated_gzip_bytes.unwrap() < generated.gzipped.len());
        assert_eq!(generated.samples, 5_000);
        assert!(
            (1_000..=3_000).contains(&generated.distinct_stacks),
            "{} distinct stacks",
            generated.distinct_stacks
        );

        let mut decoder = flate2::read::GzDecoder::new(&generated.gzipped[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut decoder, &mut raw).unwrap();
        assert_eq!(raw.len(), generated.pprof_bytes);
        let profile = Profile::decode(&raw[..]).unwrap();
        let types: Vec<&str> = profile
            .sample_type
            .iter()
            .map(|t| profile.string_table[t.r#type as usize].as_str())
            .collect();
        assert_eq!(types, ["samples", "cpu"]);
        assert_eq!(profile.period, PERIOD_NS);
        assert_eq!(profile.string_table[0], "");

        let mut files = HashSet::new();
        for sample in &profile.sample {
            assert_eq!(sample.value[1], sample.value[0] * PERIOD_NS);
            let stack = frames(&profile, sample);
            assert!((MIN_DEPTH..=MAX_DEPTH).contains(&stack.len()));
            // The root (last in pprof order) is a Node.js event-loop frame.
            assert!(stack.last().unwrap().1.starts_with("node:"));
            files.extend(stack.into_iter().map(|(_, file)| file));
        }
        assert!(files.contains("/srv/app/node_modules/express/lib/router/layer.js"));
        assert!(files.iter().any(|f| f.starts_with("node:internal/")));
        assert!(files.iter().any(|f| f.starts_with("/srv/app/src/")));
    }

    #[test]
    fn stacks_repeat_within_a_service_and_differ_across_services() {
        let mut generator = ProfileGenerator::new(7, 2);
        let stack_set = |profile: &Profile| -> HashSet<Vec<(String, String)>> {
            profile.sample.iter().map(|s| frames(profile, s)).collect()
        };
        let a1 = stack_set(&generator.profile(0, 5_000, 0, 0));
        let a2 = stack_set(&generator.profile(0, 5_000, 0, 0));
        let b = stack_set(&generator.profile(1, 5_000, 0, 0));
        let same_service = a1.intersection(&a2).count() as f64 / a1.len() as f64;
        let other_service = a1.intersection(&b).count() as f64 / a1.len() as f64;
        assert!(same_service > 0.4, "same service overlap {same_service}");
        assert!(
            other_service < 0.05,
            "other service overlap {other_service}"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let one = ProfileGenerator::new(3, 2)
            .encoded(1, 500, 5, 10, false)
            .unwrap();
        let two = ProfileGenerator::new(3, 2)
            .encoded(1, 500, 5, 10, false)
            .unwrap();
        assert_eq!(one.gzipped, two.gzipped);
    }
}
