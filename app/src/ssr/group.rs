//! Group commit: concurrent appends (HTTP events and batches, Stele's own entries)
//! are written by one writer per lane into one transaction and one durable commit
//! per group, so the cost of making a commit durable is shared by everyone waiting
//! for it.
//!
//! - A group is what queued while the previous group committed (plus what arrives
//!   within [`GroupLimits::window`]), up to [`GroupLimits::max_requests`] requests
//!   or [`GroupLimits::max_events`] events.
//! - Plain appends (no mutation) are computed one after the other and inserted
//!   together, a few statements per tenant for the whole group. A request whose
//!   computation fails (a reused idempotency key for another event) is answered
//!   with its error and writes nothing. Should the shared insert fail, it is rolled
//!   back and the requests run again one by one, each under its own savepoint, so
//!   only the one at fault fails. Requests with a mutation always run under their
//!   own savepoint, after what was deferred before them is written.
//! - A request is answered only after its group's commit returned, so an
//!   acknowledged append is as durable as the store's commit.
//! - Requests are processed in arrival order and each one starts from the tip the
//!   previous one of its tenant left, so seq stays gap-free and in order.
//! - The tenants of a group are locked up front in id order, so writers on several
//!   servers (each with its own groups) never wait for each other in a cycle.

use super::log::{append_at, known_keys, prepare, tip, KnownKeys, LogTx, Tip, TxSource, Written};
use crate::clock::Clock;
use crate::entry::{Appended, NewEntry};
use crate::store::{Mutation, StoreError};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// How a store's appends are split between writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lanes {
    /// One writer for the whole store (SQLite: the file has one write lock anyway).
    One,
    /// One writer per tenant (PostgreSQL: tenants write in parallel, each behind its
    /// own row lock).
    PerTenant,
}

/// The bounds of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    pub max_requests: usize,
    pub max_events: usize,
    /// How long a writer waits for more requests once it has one. Zero: a group is
    /// exactly what queued while the previous one committed.
    pub window: Duration,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_requests: 512,
            max_events: 10_000,
            window: Duration::ZERO,
        }
    }
}

/// How long an idle per-tenant writer stays before it ends.
const IDLE: Duration = Duration::from_secs(30);
/// Requests a lane queues before submitters wait.
const QUEUE: usize = 4_096;

type Reply = oneshot::Sender<Result<Vec<Appended>, StoreError>>;

struct Request {
    tenant_id: Uuid,
    mutation: Mutation,
    batch: Vec<NewEntry>,
    reply: Reply,
}

struct Shared {
    source: Arc<dyn TxSource>,
    clock: Arc<dyn Clock>,
    limits: GroupLimits,
    lanes: Lanes,
    writers: Mutex<HashMap<Option<Uuid>, mpsc::Sender<Request>>>,
    groups: AtomicU64,
    requests: AtomicU64,
}

/// What a group committer has committed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupStats {
    /// Transactions committed.
    pub groups: u64,
    /// Requests in them (failed ones included).
    pub requests: u64,
}

/// The group committer of one store. Cheap to share; writers start on the first
/// append of their lane and end after [`IDLE`] without one.
pub struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    pub fn new(
        source: Arc<dyn TxSource>,
        clock: Arc<dyn Clock>,
        lanes: Lanes,
        limits: GroupLimits,
    ) -> Self {
        GroupCommit {
            shared: Arc::new(Shared {
                source,
                clock,
                limits,
                lanes,
                writers: Mutex::new(HashMap::new()),
                groups: AtomicU64::new(0),
                requests: AtomicU64::new(0),
            }),
        }
    }

    pub fn stats(&self) -> GroupStats {
        GroupStats {
            groups: self.shared.groups.load(Ordering::Relaxed),
            requests: self.shared.requests.load(Ordering::Relaxed),
        }
    }

    /// Appends through the tenant's writer and waits for its group's commit. The
    /// result is what [`crate::ssr::log::commit`] would have answered alone.
    pub async fn submit(
        &self,
        tenant_id: Uuid,
        mutation: Mutation,
        batch: Vec<NewEntry>,
    ) -> Result<Vec<Appended>, StoreError> {
        // Nothing to write: no transaction, no queueing.
        if batch.is_empty() && mutation == Mutation::None {
            return Ok(Vec::new());
        }
        let lane = match self.shared.lanes {
            Lanes::One => None,
            Lanes::PerTenant => Some(tenant_id),
        };
        let (reply, answer) = oneshot::channel();
        let mut request = Request {
            tenant_id,
            mutation,
            batch,
            reply,
        };
        loop {
            let writer = self.writer(lane);
            match writer.send(request).await {
                Ok(()) => break,
                // The writer ended (idle) between handing out its sender and this
                // send: start a new one.
                Err(mpsc::error::SendError(back)) => {
                    request = back;
                    let mut writers = lock(&self.shared.writers);
                    if writers.get(&lane).is_some_and(|w| w.same_channel(&writer)) {
                        writers.remove(&lane);
                    }
                }
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Internal(
                "the writer stopped before answering".into(),
            ))
        })
    }

    fn writer(&self, lane: Option<Uuid>) -> mpsc::Sender<Request> {
        let mut writers = lock(&self.shared.writers);
        if let Some(w) = writers.get(&lane) {
            if !w.is_closed() {
                return w.clone();
            }
        }
        let (send, receive) = mpsc::channel(QUEUE);
        writers.insert(lane, send.clone());
        tokio::spawn(write(self.shared.clone(), lane, receive));
        send
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One lane's writer: takes a group, writes and commits it, answers it, again.
async fn write(shared: Arc<Shared>, lane: Option<Uuid>, mut queue: mpsc::Receiver<Request>) {
    loop {
        let first = match tokio::time::timeout(IDLE, queue.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(_) => {
                // Idle: leave, unless a request slipped in while deciding.
                let mut writers = lock(&shared.writers);
                match queue.try_recv() {
                    Ok(r) => {
                        drop(writers);
                        r
                    }
                    Err(_) => {
                        writers.remove(&lane);
                        queue.close();
                        drop(writers);
                        // Answer anything sent between the removal and the close.
                        while let Ok(r) = queue.try_recv() {
                            let _ = r.reply.send(Err(StoreError::Internal(
                                "the writer ended while this append was queued".into(),
                            )));
                        }
                        return;
                    }
                }
            }
        };
        let group = gather(&shared.limits, first, &mut queue).await;
        // A panic in one group must not stop the lane: its requests are answered
        // with an internal error (their reply senders drop) and the next group runs.
        let task = tokio::spawn(run(shared.clone(), group));
        if let Err(err) = task.await {
            tracing::error!(%err, "a group commit panicked");
        }
    }
}

/// The first request and whatever joins it within the limits.
async fn gather(
    limits: &GroupLimits,
    first: Request,
    queue: &mut mpsc::Receiver<Request>,
) -> Vec<Request> {
    let mut events = first.batch.len();
    let mut group = vec![first];
    let deadline = tokio::time::Instant::now() + limits.window;
    while group.len() < limits.max_requests && events < limits.max_events {
        let next = match queue.try_recv() {
            Ok(r) => r,
            Err(_) if limits.window.is_zero() => break,
            Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(r)) => r,
                _ => break,
            },
        };
        events += next.batch.len();
        group.push(next);
    }
    group
}

/// A copy of an error for every request of a failed group.
fn again(err: &StoreError) -> StoreError {
    match err {
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Invalid(m) => StoreError::Invalid(m.clone()),
        StoreError::Internal(source) => StoreError::Internal(source.to_string().into()),
    }
}

/// Writes one group in one transaction and answers every request of it.
async fn run(shared: Arc<Shared>, pending: Vec<Request>) {
    match write_group(&shared, pending).await {
        Ok(answers) => {
            for (reply, result) in answers {
                let _ = reply.send(result);
            }
        }
        Err((err, replies)) => {
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "group commit failed");
            for reply in replies {
                let _ = reply.send(Err(again(&err)));
            }
        }
    }
}

type Answer = (Reply, Result<Vec<Appended>, StoreError>);

/// The group's transaction. A request's own failure becomes its answer; an error
/// of the group's own steps (opening, locking, reading a tip, a savepoint, the
/// commit) fails every request of it, and then nothing of the group was written.
async fn write_group(
    shared: &Shared,
    pending: Vec<Request>,
) -> Result<Vec<Answer>, (StoreError, Vec<Reply>)> {
    let mut answers: Vec<Answer> = Vec::with_capacity(pending.len());
    let mut pending = pending.into_iter();
    let outcome = write_requests(shared, &mut pending, &mut answers).await;
    match outcome {
        Ok(()) => Ok(answers),
        Err(err) => {
            let replies = answers
                .into_iter()
                .map(|(reply, _)| reply)
                .chain(pending.map(|r| r.reply))
                .collect();
            Err((err, replies))
        }
    }
}

async fn write_requests(
    shared: &Shared,
    pending: &mut std::vec::IntoIter<Request>,
    answers: &mut Vec<Answer>,
) -> Result<(), StoreError> {
    let alone = pending.len() == 1;
    let mut tenants: Vec<Uuid> = pending.as_slice().iter().map(|r| r.tenant_id).collect();
    tenants.sort();
    tenants.dedup();
    let mut tx = shared.source.begin().await?;
    // Each tenant's sensitive-field additions (None: no such tenant) and its tip.
    let mut fields: HashMap<Uuid, Option<Vec<String>>> = HashMap::new();
    for &t in &tenants {
        fields.insert(t, tx.lock_tenant(t).await?);
    }
    let mut tips: HashMap<Uuid, Tip> = HashMap::new();
    let mut deferred = Deferred::default();
    while let Some(r) = pending.next() {
        let Some(Some(extra)) = fields.get(&r.tenant_id) else {
            answers.push((r.reply, Err(StoreError::NotFound("tenant".to_owned()))));
            continue;
        };
        let t = r.tenant_id;
        if !alone && r.mutation == Mutation::None {
            // Computed now, inserted with the others of the group (`flush`).
            if let Entry::Vacant(slot) = tips.entry(t) {
                match tip(tx.as_mut(), t, extra).await {
                    Ok(start) => slot.insert(start),
                    Err(err) => return Err(deferred.fail(answers, r.reply, err)),
                };
            }
            let looked_up = deferred.known.contains_key(&t);
            if !looked_up {
                // One lookup for the keys of every plain append of this tenant left
                // in the group.
                let later = pending
                    .as_slice()
                    .iter()
                    .filter(|p| p.tenant_id == t && p.mutation == Mutation::None)
                    .flat_map(|p| p.batch.iter());
                match known_keys(tx.as_mut(), t, r.batch.iter().chain(later)).await {
                    Ok(k) => deferred.known.insert(t, k),
                    Err(err) => return Err(deferred.fail(answers, r.reply, err)),
                };
            }
            let start = tips[&t].clone();
            let known = &deferred.known[&t];
            match prepare(start, shared.clock.now(), t, r.batch.clone(), known) {
                Ok((appended, after, written)) => {
                    if let Some(before) = tips.insert(t, after) {
                        deferred.start_tips.entry(t).or_insert(before);
                    }
                    deferred.add(r, appended, written);
                }
                // Its answer stands only if what was deferred before it commits (a
                // key it conflicts with may be one of theirs): kept with them.
                Err(err) => deferred.add_failed(r, err),
            }
            continue;
        }
        // A mutation (or a request alone): what is deferred is written first, then
        // this request runs on its own, under its own savepoint.
        if let Err(err) = deferred
            .flush(tx.as_mut(), shared, &mut tips, answers)
            .await
        {
            return Err(deferred.fail(answers, r.reply, err));
        }
        let start = match tips.get(&t) {
            Some(start) => start.clone(),
            None => match tip(tx.as_mut(), t, extra).await {
                Ok(start) => start,
                Err(err) => return Err(deferred.fail(answers, r.reply, err)),
            },
        };
        if !alone {
            if let Err(err) = tx.savepoint().await {
                return Err(deferred.fail(answers, r.reply, err));
            }
        }
        let mutated = r.mutation != Mutation::None;
        let now = shared.clock.now();
        match append_at(tx.as_mut(), start, now, t, &r.mutation, r.batch).await {
            Ok((appended, after)) => {
                answers.push((r.reply, Ok(appended)));
                if !alone {
                    tx.release_savepoint().await?;
                }
                // Its keys are in the database now, not in the deferred lookups.
                deferred.known.remove(&t);
                if mutated {
                    // The mutation may have changed what the next entry is masked
                    // with: read the tenant again.
                    tips.remove(&t);
                    fields.insert(t, tx.lock_tenant(t).await?);
                } else {
                    tips.insert(t, after);
                }
            }
            Err(err) => {
                answers.push((r.reply, Err(err)));
                // Alone, the transaction is simply not committed.
                if !alone {
                    tx.rollback_to_savepoint().await?;
                }
            }
        }
    }
    if let Err(err) = deferred
        .flush(tx.as_mut(), shared, &mut tips, answers)
        .await
    {
        deferred.fail_all(answers);
        return Err(err);
    }
    if answers.iter().any(|(_, a)| a.is_ok()) {
        tx.commit().await?;
        shared.groups.fetch_add(1, Ordering::Relaxed);
        shared
            .requests
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// A deferred request: computed, not yet inserted.
struct Computed {
    reply: Reply,
    tenant_id: Uuid,
    /// The request's own events, for a retry on its own.
    batch: Vec<NewEntry>,
    /// Its answer if the deferred requests commit as computed.
    result: Result<Vec<Appended>, StoreError>,
}

/// The plain appends of a group (no mutation) since the last flush: their writes are
/// merged per tenant and inserted with a few statements for all of them, instead of
/// a savepoint and an insert each. Should that insert fail, they are rolled back and
/// run again one by one under their own savepoints, so the one at fault fails alone.
#[derive(Default)]
struct Deferred {
    requests: Vec<Computed>,
    written: BTreeMap<Uuid, Written>,
    /// Each tenant's tip before its first deferred request.
    start_tips: HashMap<Uuid, Tip>,
    /// Per tenant: the stored keys the group's requests ask about, plus the keys the
    /// deferred requests wrote.
    known: HashMap<Uuid, KnownKeys>,
}

impl Deferred {
    fn add(&mut self, r: Request, appended: Vec<Appended>, written: Written) {
        let known = self.known.entry(r.tenant_id).or_default();
        for k in &written.keys {
            known.insert((k.scope.clone(), k.key.clone()), k.clone());
        }
        let into = self.written.entry(r.tenant_id).or_insert_with(|| Written {
            tenant_id: r.tenant_id,
            ..Written::default()
        });
        into.entries.extend(written.entries);
        into.nodes.extend(written.nodes);
        into.keys.extend(written.keys);
        for (instance, deleted) in written.instances {
            match into.instances.iter_mut().find(|(i, _)| i.id == instance.id) {
                Some((known, was_deleted)) => {
                    known.name = instance.name;
                    *was_deleted |= deleted;
                }
                None => into.instances.push((instance, deleted)),
            }
        }
        self.requests.push(Computed {
            reply: r.reply,
            tenant_id: r.tenant_id,
            batch: r.batch,
            result: Ok(appended),
        });
    }

    /// A request whose computation failed on the deferred state: it writes nothing.
    fn add_failed(&mut self, r: Request, err: StoreError) {
        self.requests.push(Computed {
            reply: r.reply,
            tenant_id: r.tenant_id,
            batch: r.batch,
            result: Err(err),
        });
    }

    /// Inserts what is deferred, or retries it request by request.
    async fn flush(
        &mut self,
        tx: &mut dyn LogTx,
        shared: &Shared,
        tips: &mut HashMap<Uuid, Tip>,
        answers: &mut Vec<Answer>,
    ) -> Result<(), StoreError> {
        if self.requests.is_empty() {
            return Ok(());
        }
        tx.savepoint().await?;
        let mut failed = None;
        for w in self.written.values() {
            if !w.entries.is_empty() || !w.keys.is_empty() {
                if let Err(err) = tx.insert(w).await {
                    failed = Some(err);
                    break;
                }
            }
        }
        self.written.clear();
        let Some(err) = failed else {
            tx.release_savepoint().await?;
            self.start_tips.clear();
            for c in self.requests.drain(..) {
                answers.push((c.reply, c.result));
            }
            return Ok(());
        };
        tracing::debug!(error = %err, "a group's shared insert failed: retrying its requests one by one");
        tx.rollback_to_savepoint().await?;
        for (t, before) in self.start_tips.drain() {
            tips.insert(t, before);
        }
        // Every deferred request runs again (the failed ones too: what they failed
        // on may be gone), and the retries write their keys to the database: look
        // them up there again.
        self.known.clear();
        let mut retries = std::mem::take(&mut self.requests).into_iter();
        while let Some(c) = retries.next() {
            let result = retry(tx, shared, tips, c.tenant_id, c.batch).await;
            match result {
                Ok(Ok(appended)) => answers.push((c.reply, Ok(appended))),
                Ok(Err(err)) => answers.push((c.reply, Err(err))),
                Err(err) => {
                    // The savepoints themselves failed: the group fails.
                    self.requests.push(Computed {
                        batch: Vec::new(),
                        ..c
                    });
                    self.requests.extend(retries);
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// The group fails: `reply` and every deferred request are answered by the
    /// group's error (in `write_group`).
    fn fail(&mut self, answers: &mut Vec<Answer>, reply: Reply, err: StoreError) -> StoreError {
        answers.push((reply, Err(StoreError::Internal("unanswered".into()))));
        self.fail_all(answers);
        err
    }

    fn fail_all(&mut self, answers: &mut Vec<Answer>) {
        for c in self.requests.drain(..) {
            answers.push((c.reply, Err(StoreError::Internal("unanswered".into()))));
        }
    }
}

/// One deferred request again, on its own under a savepoint. The outer error is the
/// group's (a savepoint failed), the inner one the request's.
async fn retry(
    tx: &mut dyn LogTx,
    shared: &Shared,
    tips: &mut HashMap<Uuid, Tip>,
    tenant_id: Uuid,
    batch: Vec<NewEntry>,
) -> Result<Result<Vec<Appended>, StoreError>, StoreError> {
    let Some(start) = tips.get(&tenant_id).cloned() else {
        return Err(StoreError::Internal(
            "a deferred request without a tip".into(),
        ));
    };
    tx.savepoint().await?;
    let now = shared.clock.now();
    match append_at(tx, start, now, tenant_id, &Mutation::None, batch).await {
        Ok((appended, after)) => {
            tx.release_savepoint().await?;
            tips.insert(tenant_id, after);
            Ok(Ok(appended))
        }
        Err(err) => {
            tx.rollback_to_savepoint().await?;
            Ok(Err(err))
        }
    }
}
