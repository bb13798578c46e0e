// workerfarm_bench.js: Node's worker-farm, an anchor of zfarm's benchmark
// suite, measured the way zfarm-bench measures zfarm (one JSON line each).
//
//   throughput  --tasks N --outstanding M: at most M calls in flight
//   burst       --tasks N: all N calls made at once
//   latency     --tasks N: one call at a time, p50/p99/p99.9 round trip
//   spawn       --workers K: from creating the farm until each of K children
//               has answered once; then one child is killed (SIGKILL) and
//               the time until a new child answers is replace_ms
//
// Every run is bounded by --deadline seconds; on expiry it reports what it
// has, counts the rest as errors, and exits 1.
'use strict'

const workerFarm = require('worker-farm')
const path = require('path')

function parse (argv) {
  const options = { mode: argv[2], tasks: 10000, outstanding: 1000,
                    workers: 2, size: 100, warmup: -1, deadline: 300 }
  for (let i = 3; i + 1 < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '')
    if (!(name in options) || name === 'mode')
      throw new Error('unknown option ' + argv[i])
    options[name] = Number(argv[i + 1])
  }
  if (!['throughput', 'burst', 'latency', 'spawn'].includes(options.mode))
    throw new Error('usage: workerfarm_bench.js throughput|burst|latency|spawn [--tasks N] ' +
                    '[--outstanding M] [--workers K] [--size B] [--warmup N] [--deadline S]')
  if (options.warmup < 0)
    options.warmup = Math.floor(options.tasks / 10)
  return options
}

const now = () => Number(process.hrtime.bigint()) / 1e3   // microseconds

function farmOf (options, extra) {
  return workerFarm(Object.assign({ maxConcurrentWorkers: options.workers },
                                  extra || {}),
                    path.join(__dirname, 'child.js'), ['echo', 'pid'])
}

// Runs count calls with at most limit in flight; resolves with the errors.
function windowed (farm, payload, count, limit) {
  return new Promise(resolve => {
    let sent = 0, done = 0, errors = 0
    const onReply = (error, data) => {
      done++
      if (error || data.length !== payload.length)
        errors++
      if (done === count)
        return resolve(errors)
      if (sent < count) {
        sent++
        farm.echo(payload, onReply)
      }
    }
    for (; sent < Math.min(limit, count); sent++)
      farm.echo(payload, onReply)
  })
}

// The value at rank ceil(p% of n) of the sorted samples, as zfarm-bench's
// histogram reports it (which is up to 0.8 % coarser).
function percentile (sorted, p) {
  if (sorted.length === 0)
    return null
  const rank = Math.max(1, Math.ceil(p / 100 * sorted.length))
  return Math.round(sorted[rank - 1] * 10) / 10
}

async function oneByOne (farm, payload, count, samples) {
  let errors = 0
  for (let i = 0; i < count; i++) {
    const start = now()
    const ok = await new Promise(resolve =>
      farm.echo(payload, (error, data) =>
        resolve(!error && data.length === payload.length)))
    if (samples)
      samples.push(now() - start)
    errors += ok ? 0 : 1
  }
  return errors
}

function report (options, mode, seconds, errors, samples) {
  const sorted = samples ? Float64Array.from(samples).sort() : []
  console.log(JSON.stringify({
    system: 'worker-farm', mode: mode, tasks: options.tasks,
    window: mode === 'throughput' ? options.outstanding
          : mode === 'burst' ? options.tasks : 1,
    size: options.size, completed: options.tasks,
    seconds: Number(seconds.toFixed(6)),
    tasks_per_sec: Number((options.tasks / seconds).toFixed(1)),
    mb_per_sec: Number((options.tasks * options.size / seconds / 1e6).toFixed(3)),
    p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99),
    p999_us: percentile(sorted, 99.9),
    max_us: sorted.length ? percentile(sorted, 100) : null,
    errors: errors }))
}

async function load (options) {
  const farm = farmOf(options)
  const payload = 'x'.repeat(options.size)
  const limit = options.mode === 'burst' ? options.tasks : options.outstanding
  let errors
  if (options.mode === 'latency') {
    await oneByOne(farm, payload, options.warmup)
    const samples = []
    const start = now()
    errors = await oneByOne(farm, payload, options.tasks, samples)
    report(options, 'latency', (now() - start) / 1e6, errors, samples)
  } else {
    await windowed(farm, payload, options.warmup, options.outstanding)
    const start = now()
    errors = await windowed(farm, payload, options.tasks, limit)
    report(options, options.mode, (now() - start) / 1e6, errors)
  }
  workerFarm.end(farm)
  return errors
}

// Keeps `width` pid calls in flight until stop(pid) says so; resolves then.
function pidsUntil (farm, width, stop) {
  return new Promise(resolve => {
    let finished = false
    const ask = () => farm.pid((error, pid) => {
      if (finished)
        return
      if (!error && stop(pid)) {
        finished = true
        return resolve()
      }
      ask()
    })
    for (let i = 0; i < width; i++)
      ask()
  })
}

async function spawn (options) {
  const start = now()
  const farm = farmOf(options, { maxConcurrentCallsPerWorker: 1,
                                 autoStart: true })
  const seen = new Set()
  await pidsUntil(farm, options.workers, pid => {
    seen.add(pid)
    return seen.size === options.workers
  })
  const spawnMs = (now() - start) / 1e3
  const victim = seen.values().next().value
  const killed = now()
  process.kill(victim, 'SIGKILL')      // a child of this farm
  await pidsUntil(farm, options.workers, pid => !seen.has(pid))
  const replaceMs = (now() - killed) / 1e3
  console.log(JSON.stringify({ system: 'worker-farm', workers: options.workers,
                               spawn_ms: Number(spawnMs.toFixed(2)),
                               replace_ms: Number(replaceMs.toFixed(2)),
                               errors: 0 }))
  workerFarm.end(farm)
  return 0
}

const options = parse(process.argv)
const timer = setTimeout(() => {
  console.error('workerfarm_bench: deadline of ' + options.deadline + ' s passed')
  process.exit(1)
}, options.deadline * 1000)
timer.unref()
;(options.mode === 'spawn' ? spawn(options) : load(options))
  .then(errors => process.exit(errors ? 1 : 0))
