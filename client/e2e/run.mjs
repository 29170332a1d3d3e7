// e2e runner: one plaza and one browser for the whole suite; runs every `*.e2e.mjs` test in order, each test
// in its own browser context(s). Prints one line per test and exits non-zero on any failure.
// Usage: node e2e/run.mjs [name-filter]
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { launchBrowser, startPlaza, Skip } from './harness.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const filter = process.argv[2] ?? ''
const tests = []
for (const file of readdirSync(here).filter((f) => f.endsWith('.e2e.mjs')).sort()) {
  const mod = await import(pathToFileURL(join(here, file)).href)
  for (const [name, fn] of Object.entries(mod.tests)) if (`${file} ${name}`.includes(filter)) tests.push({ file, name, fn })
}

const started = Date.now()
const plaza = await startPlaza()
const browser = await launchBrowser()
console.log(`plaza at ${plaza.base} (live server: ${plaza.liveServer ? 'yes' : 'not merged yet'})`)
let failed = 0
let skipped = 0
for (const t of tests) {
  const t0 = Date.now()
  try {
    await t.fn({ browser, plaza })
    console.log(`  ✓ ${t.file} › ${t.name} (${Date.now() - t0} ms)`)
  } catch (e) {
    if (e instanceof Skip) {
      skipped++
      console.log(`  - ${t.file} › ${t.name}: skipped (${e.message})`)
      continue
    }
    failed++
    console.log(`  ✗ ${t.file} › ${t.name} (${Date.now() - t0} ms)\n${String(e?.stack ?? e).replace(/^/gm, '      ')}`)
  }
}
await browser.close()
await plaza.stop()
console.log(`${tests.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped, ${tests.length} e2e tests in ${((Date.now() - started) / 1000).toFixed(1)} s`)
process.exit(failed ? 1 : 0)
