// child.js: the worker-farm child of the benchmark: echo, and its own pid.
'use strict'

module.exports = {
  echo: function (data, callback) { callback(null, data) },
  pid: function (callback) { callback(null, process.pid) }
}
