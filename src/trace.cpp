// X12, a timeline: startTrace() and stopTrace(), QDISPATCH_TRACE and QDISPATCH_TRACE_MAX_EVENTS,
// the per-thread buffers the hot paths record into, and the writer of the Chrome Trace Event
// Format file.
//
// Recording takes no lock per event: each thread appends to a chunk of its own, and takes the
// tracer's mutex once per chunk (kChunkRecords records) to hand a full one over. The bound is
// kept there, a chunk at a time, oldest first; the writer trims the rest exactly. A record says
// what happened (an item's run, a wait); the writer turns it into the file's events. A submit
// records nothing: it stamps the item with its time and thread, and the item's run record makes
// the whole flow (its start on the submitting thread, its end on the owner's). So an item that
// never runs in the trace has no flow, and the file never holds half of one.
#include "trace_p.h"

#include "diagnostics_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QThread>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace qdispatch {

Q_LOGGING_CATEGORY(lcTrace, "qdispatch.trace")

namespace detail {

namespace {

constexpr std::uint64_t kDefaultMaxEvents = 1'000'000;
// Large enough that handing a chunk over is rare (its mutex a few thousand times per million
// items), small enough that an idle thread's chunk costs little (18 KiB).
constexpr std::uint32_t kChunkRecords = 512;
// The different names (item, executor, submitter) one chunk's records may use; a chunk that
// needs more is handed over early.
constexpr std::uint32_t kChunkNames = 64;

struct Record
{
    enum class Kind : std::uint8_t { Run, Wait };
    Kind kind = Kind::Run;
    std::int64_t ts = 0; // steady clock, ns
    std::int64_t end = 0; // Run, Wait
    std::int64_t accepted = 0; // Run: the item's accepted stamp
    std::uint64_t submitter = 0; // Run: the item's stamp (kTracedSubmit: a flow leads to it)
    const std::type_info *type = nullptr; // Run: the item's name
    const char *text = nullptr; // Run: the item's name; Wait: what waited
    const void *executor = nullptr; // Run, Wait

    bool flowEnd() const { return kind == Kind::Run && (submitter & kTracedSubmit) != 0; }
    // How many of the file's events it makes: a traced run is a complete event and a flow's
    // start and end.
    std::uint64_t weight() const { return flowEnd() ? 3 : 1; }
};

// A record as a chunk keeps it: the times, and an index into the chunk's table of what they
// name, half the size of a Record. Records are written at the rate items run, into memory new
// to the process (the bound allows a million events): each page of it costs a page fault on the
// owner thread, as much as dozens of tiny items (P8), so the fewer bytes a record, the better.
struct PackedRecord
{
    static constexpr std::uint32_t kWait = 1; // flags: a wait (else an item's run)
    static constexpr std::uint32_t kFlow = 2; // flags: a traced submit (kTracedSubmit)

    std::int64_t ts;
    std::int64_t end;
    std::int64_t accepted;
    std::uint32_t name; // index into Chunk::names
    std::uint32_t flags;
};

// What a record names, apart from its times. Equal names are kept once per chunk.
struct RecordName
{
    const std::type_info *type;
    const char *text;
    const void *executor;
    std::uint64_t submitter; // the serial, without its marks

    bool operator==(const RecordName &other) const
    {
        return type == other.type && text == other.text && executor == other.executor &&
            submitter == other.submitter;
    }
};

struct Chunk
{
    explicit Chunk(std::uint64_t tid) : tid(tid) { }
    const std::uint64_t tid;
    std::uint64_t weight = 0; // set when handed over, under the tracer's mutex
    // The records below `count` are written; the owning thread appends, and a reader on another
    // thread (stopTrace()) reads what it acquires, with the names they use (a name is written
    // before the first record that uses it, and never changed).
    std::atomic<std::uint32_t> count { 0 };
    std::uint32_t nameCount = 0; // the owning thread's
    std::uint32_t lastName = 0; // the owning thread's: the name the last record used
    RecordName names[kChunkNames];
    PackedRecord records[kChunkRecords]; // not initialised: a page is touched when written

    // The owning thread: the index of `name` in this chunk's table, added if need be;
    // kChunkNames when the table is full.
    std::uint32_t indexOf(const RecordName &name) noexcept
    {
        if (lastName < nameCount && names[lastName] == name)
            return lastName; // a flood of one item from one thread: always here
        for (std::uint32_t i = 0; i < nameCount; ++i) {
            if (names[i] == name)
                return lastName = i;
        }
        if (nameCount == kChunkNames)
            return kChunkNames;
        names[nameCount] = name;
        return lastName = nameCount++;
    }
    // Any thread that acquired `count` past `i`.
    Record record(std::uint32_t i) const noexcept
    {
        const PackedRecord &packed = records[i];
        const RecordName &name = names[packed.name];
        Record r;
        r.kind = (packed.flags & PackedRecord::kWait) ? Record::Kind::Wait : Record::Kind::Run;
        r.ts = packed.ts;
        r.end = packed.end;
        r.accepted = packed.accepted;
        r.submitter = name.submitter | ((packed.flags & PackedRecord::kFlow) ? kTracedSubmit : 0);
        r.type = name.type;
        r.text = name.text;
        r.executor = name.executor;
        return r;
    }
};

// One thread's: `generation` and `chunk` change on that thread only, under the tracer's mutex,
// so the thread reads them without it and stopTrace() under it.
// A wait of the thread that began while a trace was recorded and has not ended: written by
// stopTrace(), up to the stop, if it is still under way then.
struct OpenWait
{
    const TraceWait *wait;
    const char *what;
    const void *executor;
    std::int64_t startNs;
};

struct ThreadBuffer
{
    std::uint64_t tid = 0; // the thread's serial (submitterSerial())
    std::uint64_t generation = 0; // the trace its chunk belongs to; 0: none
    Chunk *chunk = nullptr;
    std::vector<OpenWait> openWaits; // under the tracer's mutex; innermost last
};

// Odd while a trace is recorded: every start and stop moves it on, so that a buffer of an earlier
// trace is told from a current one with one load.
std::atomic<std::uint64_t> g_generation { 0 };

struct Tracer
{
    std::mutex mutex;
    bool active = false;
    std::uint64_t maxEvents = kDefaultMaxEvents;
    std::int64_t startNs = 0;
    std::vector<ThreadBuffer *> buffers;
    std::deque<Chunk *> handedOver; // full chunks (and those of ended threads), oldest first
    std::uint64_t handedOverWeight = 0;
    std::uint64_t droppedWeight = 0; // events of chunks dropped for the bound
    std::map<std::uint64_t, QString> names; // thread serial: its name, as X10 names threads
    std::unique_ptr<QFile> file;
};

Tracer &tracer()
{
    static auto *instance = new Tracer; // never destroyed: threads may record during exit
    return *instance;
}

// Serialises startTrace(), stopTrace() and the write at exit; held while the file is written.
std::mutex &controlMutex()
{
    static auto *mutex = new std::mutex;
    return *mutex;
}

QString currentLabel()
{
    return ThreadName::of(QThread::currentThread()).label(QThread::currentThreadId());
}

// --- The threads' buffers ---------------------------------------------------------------------

void forgetBuffer(ThreadBuffer *buffer) noexcept;

// Trivially destructible, so the hot path reads it without a thread-local guard; the owner
// below hands the buffer over when the thread ends.
thread_local ThreadBuffer *t_buffer = nullptr;
thread_local bool t_bufferGone = false;

struct BufferOwner
{
    ~BufferOwner()
    {
        if (ThreadBuffer *buffer = t_buffer) {
            t_buffer = nullptr;
            t_bufferGone = true;
            forgetBuffer(buffer);
        }
    }
};
thread_local BufferOwner t_bufferOwner;

Chunk *newChunk(std::uint64_t tid) noexcept
{
    return new (std::nothrow) Chunk(tid);
}

std::uint64_t weightOf(const Chunk &chunk, std::uint32_t count)
{
    std::uint64_t weight = 0;
    for (std::uint32_t i = 0; i < count; ++i)
        weight += chunk.record(i).weight();
    return weight;
}

// Under the tracer's mutex: `chunk` joins the trace; the oldest chunks go while the rest hold
// the bound and a margin. The writer trims the rest exactly; the margin is there because a
// chunk dropped here may hold the starts of flows whose ends are in chunks kept, and those runs
// then lose their flows: the writer's trim, by time, goes past that seam.
void handOver(Tracer &t, Chunk *chunk, std::uint32_t count)
{
    constexpr std::uint64_t kMargin = 4 * kChunkRecords;
    chunk->weight = weightOf(*chunk, count);
    t.handedOver.push_back(chunk);
    t.handedOverWeight += chunk->weight;
    while (t.handedOver.size() > 1 &&
           t.handedOverWeight - t.handedOver.front()->weight >= t.maxEvents + kMargin) {
        Chunk *oldest = t.handedOver.front();
        t.handedOver.pop_front();
        t.handedOverWeight -= oldest->weight;
        t.droppedWeight += oldest->weight;
        delete oldest;
    }
}

void forgetBuffer(ThreadBuffer *buffer) noexcept
{
    Tracer &t = tracer();
    std::lock_guard locker(t.mutex);
    Chunk *chunk = std::exchange(buffer->chunk, nullptr);
    const std::uint32_t count = chunk ? chunk->count.load(std::memory_order_relaxed) : 0;
    if (chunk && count > 0 && t.active &&
        buffer->generation == g_generation.load(std::memory_order_relaxed))
        handOver(t, chunk, count);
    else
        delete chunk;
    t.buffers.erase(std::find(t.buffers.begin(), t.buffers.end(), buffer));
    delete buffer;
}

// The calling thread's buffer for the trace being recorded, with room for a record; nullptr
// when none is recorded (any more).
ThreadBuffer *joinTrace() noexcept
{
    if (t_bufferGone)
        return nullptr;
    Tracer &t = tracer();
    ThreadBuffer *buffer = t_buffer;
    if (!buffer) {
        (void)&t_bufferOwner; // constructs it, so that its destructor runs when the thread ends
        buffer = new (std::nothrow) ThreadBuffer;
        if (!buffer)
            return nullptr;
        buffer->tid = submitterSerial();
        std::lock_guard locker(t.mutex);
        t.buffers.push_back(buffer);
        t_buffer = buffer;
    }
    QString label = currentLabel();
    std::lock_guard locker(t.mutex);
    if (!t.active)
        return nullptr;
    const std::uint64_t generation = g_generation.load(std::memory_order_relaxed);
    if (buffer->generation != generation || !buffer->chunk) {
        delete buffer->chunk; // an earlier trace's: it was read when that one stopped
        buffer->chunk = newChunk(buffer->tid);
        buffer->generation = buffer->chunk ? generation : 0;
        t.names[buffer->tid] = std::move(label);
    }
    return buffer->chunk ? buffer : nullptr;
}

inline ThreadBuffer *currentBuffer() noexcept
{
    ThreadBuffer *buffer = t_buffer;
    if (Q_LIKELY(buffer && buffer->generation == g_generation.load(std::memory_order_acquire)))
        return buffer;
    return joinTrace();
}

// A chunk that is full, or whose names are used up, goes to the tracer; the thread goes on in a
// fresh one (none when the trace has ended, or no memory is left: then currentBuffer() tries
// again at the next record).
void handOverAndRenew(ThreadBuffer *buffer) noexcept
{
    QString label = currentLabel(); // the thread may have been named since
    Tracer &t = tracer();
    std::lock_guard locker(t.mutex);
    Chunk *chunk = std::exchange(buffer->chunk, nullptr);
    if (t.active && buffer->generation == g_generation.load(std::memory_order_relaxed)) {
        handOver(t, chunk, chunk->count.load(std::memory_order_relaxed));
        t.names[buffer->tid] = std::move(label);
        buffer->chunk = newChunk(buffer->tid);
    } else {
        delete chunk;
    }
    if (!buffer->chunk)
        buffer->generation = 0;
}

void append(ThreadBuffer *buffer, const Record &record) noexcept
{
    const RecordName name { record.type, record.text, record.executor,
                            submitterSerialOf(record.submitter) };
    std::uint32_t index = buffer->chunk->indexOf(name);
    if (Q_UNLIKELY(index == kChunkNames)) {
        handOverAndRenew(buffer);
        if (!buffer->chunk)
            return;
        index = buffer->chunk->indexOf(name);
    }
    Chunk *const chunk = buffer->chunk;
    const std::uint32_t count = chunk->count.load(std::memory_order_relaxed);
    PackedRecord &packed = chunk->records[count];
    packed.ts = record.ts;
    packed.end = record.end;
    packed.accepted = record.accepted;
    packed.name = index;
    packed.flags = (record.kind == Record::Kind::Wait ? PackedRecord::kWait : 0) |
        ((record.submitter & kTracedSubmit) != 0 ? PackedRecord::kFlow : 0);
    chunk->count.store(count + 1, std::memory_order_release);
    if (count + 1 == kChunkRecords)
        handOverAndRenew(buffer);
}

// --- Reading the environment ------------------------------------------------------------------

std::uint64_t maxEventsFromEnvironment()
{
    static const char variable[] = "QDISPATCH_TRACE_MAX_EVENTS";
    if (!qEnvironmentVariableIsSet(variable))
        return kDefaultMaxEvents;
    const QByteArray value = qgetenv(variable);
    const QByteArray digits = value.trimmed();
    bool valid = !digits.isEmpty() && digits.size() <= 12;
    for (const char c : digits)
        valid = valid && c >= '0' && c <= '9';
    const std::uint64_t parsed = valid ? digits.toULongLong() : 0;
    if (parsed == 0) {
        static std::mutex mutex;
        static QByteArray warned;
        {
            std::lock_guard locker(mutex);
            if (warned == value)
                return kDefaultMaxEvents;
            warned = value;
        }
        qCWarning(lcTrace,
                  "QDispatch: ignoring %s=\"%s\": expected a whole number of events from 1 to "
                  "999999999999; the trace keeps at most %llu.",
                  variable, value.constData(), static_cast<unsigned long long>(kDefaultMaxEvents));
        return kDefaultMaxEvents;
    }
    return parsed;
}

// --- Writing the file -------------------------------------------------------------------------

struct Collected
{
    std::vector<std::pair<Record, std::uint64_t>> records; // with the tid of the thread
    std::map<std::uint64_t, QString> names;
    std::uint64_t droppedWeight = 0;
    std::uint64_t maxEvents = 0;
    std::int64_t startNs = 0;
    std::unique_ptr<QFile> file;
};

// Under the control mutex: ends the trace being recorded and takes what it holds. False when
// none is recorded.
bool collect(Collected *out)
{
    Tracer &t = tracer();
    std::lock_guard locker(t.mutex);
    if (!t.active)
        return false;
    const std::uint64_t generation = g_generation.load(std::memory_order_relaxed);
    t.active = false;
    g_tracing.store(false, std::memory_order_relaxed);
    diagnosticsSettingsChanged();
    g_generation.store(generation + 1, std::memory_order_release);
    std::size_t total = 0;
    for (const Chunk *chunk : t.handedOver)
        total += chunk->count.load(std::memory_order_relaxed);
    out->records.reserve(total + t.buffers.size() * kChunkRecords);
    for (Chunk *chunk : t.handedOver) {
        const std::uint32_t count = chunk->count.load(std::memory_order_relaxed);
        for (std::uint32_t i = 0; i < count; ++i)
            out->records.emplace_back(chunk->record(i), chunk->tid);
        delete chunk;
    }
    t.handedOver.clear();
    t.handedOverWeight = 0;
    // The waits under way, up to now; each is written again, whole, by a trace recorded when it
    // ends.
    const std::int64_t stopNs = traceClockNs();
    for (const ThreadBuffer *buffer : t.buffers) {
        for (const OpenWait &open : buffer->openWaits) {
            Record record;
            record.kind = Record::Kind::Wait;
            record.ts = open.startNs;
            record.end = std::max(open.startNs, stopNs);
            record.text = open.what;
            record.executor = open.executor;
            out->records.emplace_back(record, buffer->tid);
        }
    }
    // The chunks threads are filling: what they have written so far (they may be writing more
    // right now, past `count`, into a trace that has ended; they drop it when they see that).
    for (const ThreadBuffer *buffer : t.buffers) {
        if (buffer->generation != generation || !buffer->chunk)
            continue;
        const Chunk *chunk = buffer->chunk;
        const std::uint32_t count = chunk->count.load(std::memory_order_acquire);
        for (std::uint32_t i = 0; i < count; ++i)
            out->records.emplace_back(chunk->record(i), chunk->tid);
    }
    out->names = std::move(t.names);
    t.names.clear();
    out->droppedWeight = std::exchange(t.droppedWeight, 0);
    out->maxEvents = t.maxEvents;
    out->startNs = t.startNs;
    out->file = std::move(t.file);
    return true;
}

void appendJsonString(QByteArray &out, const QByteArray &utf8)
{
    out += '"';
    for (const char c : utf8) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", unsigned(c));
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

QByteArray jsonString(const QString &text)
{
    QByteArray out;
    appendJsonString(out, text.toUtf8());
    return out;
}

void appendInt(QByteArray &out, std::int64_t value)
{
    char text[24];
    const auto result = std::to_chars(text, text + sizeof text, value);
    out.append(text, result.ptr - text);
}

// Nanoseconds as microseconds with three decimals, the unit of the format.
void appendMicros(QByteArray &out, std::int64_t ns)
{
    if (ns < 0) {
        out += '-';
        ns = -ns;
    }
    appendInt(out, ns / 1000);
    const int rest = int(ns % 1000);
    const char decimals[4] = { '.', char('0' + rest / 100), char('0' + rest / 10 % 10),
                               char('0' + rest % 10) };
    out.append(decimals, 4);
}

QByteArray hexText(const void *pointer)
{
    return "\"0x" + QByteArray::number(quintptr(pointer), 16) + '"';
}

bool write(Collected &c)
{
    auto &records = c.records;
    // An item that was running when this trace started (a run that a trace before it saw begin)
    // is shown from this trace's start; one that ended before it is not this trace's at all.
    records.erase(std::remove_if(records.begin(), records.end(),
                                 [&](const auto &record) {
                                     const Record &r = record.first;
                                     return r.kind == Record::Kind::Run && r.end < c.startNs;
                                 }),
                  records.end());
    for (auto &[r, tid] : records) {
        if (r.kind == Record::Kind::Run)
            r.ts = std::max(r.ts, c.startNs);
    }
    // Oldest first; at one instant a flow starts before the item it leads to.
    std::stable_sort(records.begin(), records.end(), [](const auto &a, const auto &b) {
        return a.first.ts != b.first.ts ? a.first.ts < b.first.ts : a.first.kind < b.first.kind;
    });
    const std::size_t n = records.size();
    // A flow whose start lies before the trace began (the item was accepted in an earlier one)
    // is left out; the run is written.
    const auto hasFlow = [&](const Record &r) { return r.flowEnd() && r.accepted >= c.startNs; };
    std::vector<bool> removed(n, false);
    const auto written = [&](std::size_t i) -> std::uint64_t {
        if (removed[i])
            return 0;
        const Record &r = records[i].first;
        return r.kind == Record::Kind::Run && hasFlow(r) ? 3 : 1;
    };
    std::uint64_t made = c.droppedWeight;
    std::uint64_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
        made += records[i].first.weight();
        kept += written(i);
    }
    // The bound, exactly: the oldest go first, a run with its flow.
    for (std::size_t i = 0; i < n && kept > c.maxEvents; ++i) {
        kept -= written(i);
        removed[i] = true;
    }

    const QByteArray pid = QByteArray::number(QCoreApplication::applicationPid());
    std::map<std::pair<const void *, const void *>, QByteArray> itemNames;
    const auto nameOf = [&](const Record &r) -> const QByteArray & {
        QByteArray &name = itemNames[{ r.type, r.text }];
        if (name.isEmpty())
            name = jsonString(itemName(CallableName { r.type, r.text }));
        return name;
    };
    std::map<std::uint64_t, QByteArray> submitters;
    const auto submitterOf = [&](std::uint64_t serial) -> const QByteArray & {
        QByteArray &label = submitters[serial];
        if (label.isEmpty()) {
            const auto it = c.names.find(serial);
            label = jsonString(it != c.names.end() ? it->second : submitterLabel(serial, false));
        }
        return label;
    };
    std::map<std::uint64_t, bool> tidsUsed;

    QFile &file = *c.file;
    QByteArray out;
    out.reserve(1 << 20);
    bool ok = true;
    const auto flush = [&](bool force) {
        if (ok && (force || out.size() >= (1 << 20))) {
            ok = file.write(out) == out.size();
            out.clear();
        }
    };
    out += "{\"traceEvents\":[\n";
    bool first = true;
    const auto beginEvent = [&](const QByteArray &name, const char *cat, const char *ph,
                                std::uint64_t tid, std::int64_t tsNs) {
        out += first ? "{\"name\":" : ",\n{\"name\":";
        first = false;
        out += name;
        out += ",\"cat\":\"";
        out += cat;
        out += "\",\"ph\":\"";
        out += ph;
        out += "\",\"pid\":";
        out += pid;
        out += ",\"tid\":";
        appendInt(out, std::int64_t(tid));
        out += ",\"ts\":";
        appendMicros(out, tsNs - c.startNs);
        tidsUsed[tid] = true;
    };
    std::uint64_t writtenCount = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (removed[i])
            continue;
        const Record &r = records[i].first;
        const std::uint64_t tid = records[i].second;
        switch (r.kind) {
        case Record::Kind::Run: {
            const QByteArray &name = nameOf(r);
            const bool flow = hasFlow(r);
            if (flow) {
                beginEvent(name, "qdispatch", "s", submitterSerialOf(r.submitter), r.accepted);
                out += ",\"id\":";
                appendInt(out, std::int64_t(i + 1));
                out += '}';
                ++writtenCount;
            }
            beginEvent(name, "qdispatch", "X", tid, r.ts);
            // One nanosecond short: the next item starts where this one ends, and a viewer
            // that sees the two touch may draw the next inside this one.
            out += ",\"dur\":";
            appendMicros(out, std::max<std::int64_t>(0, r.end - r.ts - 1));
            out += ",\"args\":{\"executor\":";
            out += hexText(r.executor);
            if (const std::uint64_t serial = submitterSerialOf(r.submitter)) {
                out += ",\"submitter\":";
                out += submitterOf(serial);
            }
            if (r.flowEnd()) {
                out += ",\"delivery_us\":";
                appendMicros(out, r.ts - r.accepted);
            }
            out += "}}";
            ++writtenCount;
            if (flow) {
                beginEvent(name, "qdispatch", "f", tid, r.ts);
                out += ",\"bp\":\"e\",\"id\":";
                appendInt(out, std::int64_t(i + 1));
                out += '}';
                ++writtenCount;
            }
            break;
        }
        case Record::Kind::Wait: {
            // A wait that began during an earlier trace is shown from this one's start.
            const std::int64_t ts = std::max(r.ts, c.startNs);
            beginEvent(jsonString(QString::fromUtf8(r.text)), "qdispatch.wait", "X", tid, ts);
            out += ",\"dur\":";
            appendMicros(out, std::max<std::int64_t>(0, r.end - ts));
            out += ",\"args\":{\"executor\":";
            out += hexText(r.executor);
            out += "}}";
            ++writtenCount;
            break;
        }
        }
        flush(false);
    }
    for (const auto &[tid, used] : tidsUsed) {
        Q_UNUSED(used);
        const auto it = c.names.find(tid);
        // A thread that only submitted has no buffer of its own here: named as X10 names it.
        const QString label = it != c.names.end() ? it->second : submitterLabel(tid, false);
        out += first ? "{" : ",\n{";
        first = false;
        out += "\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":";
        out += pid;
        out += ",\"tid\":";
        appendInt(out, std::int64_t(tid));
        out += ",\"args\":{\"name\":";
        out += jsonString(label);
        out += "}}";
    }
    out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"QDispatch\","
           "\"droppedEvents\":";
    appendInt(out, std::int64_t(made - writtenCount));
    out += ",\"maxEvents\":";
    appendInt(out, std::int64_t(c.maxEvents));
    out += "}}\n";
    flush(true);
    ok = ok && file.flush();
    if (!ok) {
        qCWarning(lcTrace, "QDispatch: could not write the trace to %s: %s",
                  qUtf8Printable(file.fileName()), qUtf8Printable(file.errorString()));
    }
    file.close();
    return ok;
}

// Under the control mutex.
bool stopLocked()
{
    Collected collected;
    if (!collect(&collected))
        return false;
    return write(collected);
}

void writeAtExit()
{
    std::lock_guard control(controlMutex());
    (void)stopLocked();
}

// Under the control mutex.
bool startLocked(const QString &filePath)
{
    {
        Tracer &t = tracer();
        std::lock_guard locker(t.mutex);
        if (t.active) {
            const QString current = t.file ? t.file->fileName() : QString();
            qCWarning(lcTrace,
                      "QDispatch: startTrace(\"%s\") ignored: a trace is being recorded into %s "
                      "already (stopTrace() ends it)",
                      qUtf8Printable(filePath), qUtf8Printable(current));
            return false;
        }
    }
    auto file = std::make_unique<QFile>(filePath);
    if (filePath.isEmpty() || !file->open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        qCWarning(lcTrace, "QDispatch: cannot trace into \"%s\": %s", qUtf8Printable(filePath),
                  qUtf8Printable(file->errorString()));
        return false;
    }
    const std::uint64_t maxEvents = maxEventsFromEnvironment();
    static const bool exitHook = [] {
        // The logging category's static is made before the handler is registered, so it is
        // still there when the handler runs.
        (void)lcTrace();
        return std::atexit(writeAtExit) == 0;
    }();
    Q_UNUSED(exitHook);
    Tracer &t = tracer();
    std::lock_guard locker(t.mutex);
    t.file = std::move(file);
    t.maxEvents = maxEvents;
    t.droppedWeight = 0;
    t.names.clear();
    t.startNs = traceClockNs();
    t.active = true;
    g_generation.fetch_add(1, std::memory_order_release);
    g_tracing.store(true, std::memory_order_relaxed);
    diagnosticsSettingsChanged();
    return true;
}

} // namespace

// --- What the hot paths call ------------------------------------------------------------------

TraceStamp traceAccept() noexcept
{
    // Nothing is recorded here: the item's run record makes its flow (see the top of this file).
    return { traceClockNs(), submitterSerial() | kTracedSubmit };
}

void traceRun(CallableName name, const void *executor, std::int64_t startNs, std::int64_t endNs,
              std::int64_t acceptedNs, std::uint64_t submitter) noexcept
{
    ThreadBuffer *const buffer = currentBuffer();
    if (!buffer)
        return;
    Record record;
    record.kind = Record::Kind::Run;
    // The end of the item before it is this one's start: it may have been read before this item
    // was accepted. It did not start before that.
    const bool traced = (submitter & kTracedSubmit) != 0;
    record.ts = traced ? std::max(startNs, acceptedNs) : startNs;
    record.end = std::max(record.ts, endNs);
    record.accepted = acceptedNs;
    record.submitter = submitter;
    record.type = name.type;
    record.text = name.signature;
    record.executor = executor;
    append(buffer, record);
}

void TraceWait::begin(const char *what, const void *executor) noexcept
{
    m_what = what;
    m_executor = executor;
    m_startNs = traceClockNs();
    if (ThreadBuffer *const buffer = currentBuffer()) {
        Tracer &t = tracer();
        std::lock_guard locker(t.mutex);
        buffer->openWaits.push_back({ this, what, executor, m_startNs });
    }
}

void TraceWait::end() noexcept
{
    if (ThreadBuffer *const buffer = t_buffer) {
        Tracer &t = tracer();
        std::lock_guard locker(t.mutex);
        auto &open = buffer->openWaits;
        const auto it = std::find_if(open.rbegin(), open.rend(),
                                     [this](const OpenWait &w) { return w.wait == this; });
        if (it != open.rend())
            open.erase(std::next(it).base());
    }
    if (!tracing())
        return;
    const std::int64_t endNs = traceClockNs();
    ThreadBuffer *const buffer = currentBuffer();
    if (!buffer)
        return;
    Record record;
    record.kind = Record::Kind::Wait;
    record.ts = m_startNs;
    record.end = endNs;
    record.text = m_what;
    record.executor = m_executor;
    append(buffer, record);
}

void applyTraceEnvironment()
{
    static std::once_flag once;
    std::call_once(once, [] {
        const QString path = qEnvironmentVariable("QDISPATCH_TRACE");
        if (path.isEmpty() || !QDISPATCH_DIAGNOSTICS)
            return;
        std::lock_guard control(controlMutex());
        (void)startLocked(path);
    });
}

} // namespace detail

bool startTrace(const QString &filePath)
{
#if QDISPATCH_DIAGNOSTICS
    std::lock_guard control(detail::controlMutex());
    return detail::startLocked(filePath);
#else
    qCWarning(lcTrace, "QDispatch: startTrace() needs a library built with QDISPATCH_DIAGNOSTICS");
    Q_UNUSED(filePath);
    return false;
#endif
}

bool stopTrace()
{
    std::lock_guard control(detail::controlMutex());
    detail::Collected collected;
    if (!detail::collect(&collected)) {
        qCWarning(lcTrace, "QDispatch: stopTrace() ignored: no trace is being recorded");
        return false;
    }
    return detail::write(collected);
}

} // namespace qdispatch
