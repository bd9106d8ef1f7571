// Returning the memory of large messages to the operating system.
//
// gRPC receives a message into many small buffers, which malloc serves from
// its arenas; once the message is freed they stay in malloc's free lists,
// resident, and a replica that received a 200 MB gradient keeps 200 MB more
// than its state needs (measured with bench/sharding). The handlers note
// every large message (NoteMessageBytes) and the server's housekeeping thread
// calls ReleaseFreedMemory() every second, which gives the free pages back
// (glibc malloc_trim) when large messages came since the last time; past
// kTrimNowBytes of them a background thread releases at once (the handler
// does not wait for it).
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_SESSION_MEMORY_RELEASE_H_
#define OPTD_SERVER_SESSION_MEMORY_RELEASE_H_

#include <cstddef>

namespace optd::server {

// Messages of at least this many bytes count as large.
inline constexpr size_t kLargeMessageBytes = size_t{1} << 20;

// Large messages noted since the last release beyond which the release
// happens at once, on a background thread.
inline constexpr size_t kTrimNowBytes = size_t{64} << 20;

// Whether freed memory is released at all (--release_freed_memory; on by
// default). Process-wide.
void SetReleaseFreedMemory(bool enabled);

// Notes a message received or sent (only large ones count).
void NoteMessageBytes(size_t bytes);

// Notes session state freed (a session deleted or expired). Small sessions'
// state adds up: once a large message's worth was freed, the next
// housekeeping tick releases it (bench/soak: without it, the RSS of a server
// that deleted a thousand small sessions stayed 6-8 MB above its baseline).
void NoteFreedBytes(size_t bytes);

// Gives malloc's free pages back to the OS if large messages came since the
// last call or the one before (their buffers are freed after their handlers
// return); returns whether it did.
bool ReleaseFreedMemory();

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_MEMORY_RELEASE_H_
