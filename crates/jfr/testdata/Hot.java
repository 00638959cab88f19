import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixture generator for vispyr-jfr: a CPU-bound hot method, steady allocation,
 * a contended monitor and a parked thread, so one short recording carries
 * execution, allocation, monitor-enter and thread-park events.
 */
public class Hot {
    static volatile long sink;
    static final Object LOCK = new Object();

    static long burn(long n) {
        long x = 0;
        for (long i = 0; i < n; i++) {
            x += (i * 31) ^ (x >>> 3);
        }
        return x;
    }

    static byte[] allocate(int size) {
        return new byte[size];
    }

    static void holdLock(long millis) throws InterruptedException {
        synchronized (LOCK) {
            Thread.sleep(millis);
        }
    }

    public static void main(String[] args) throws Exception {
        long runMillis = args.length > 0 ? Long.parseLong(args[0]) : 3000;
        long end = System.currentTimeMillis() + runMillis;

        Thread contender = new Thread(() -> {
            try {
                while (System.currentTimeMillis() < end) {
                    holdLock(20);
                    LockSupport.parkNanos(30_000_000L);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "contender");
        contender.start();

        List<byte[]> keep = new ArrayList<>();
        int round = 0;
        while (System.currentTimeMillis() < end) {
            sink += burn(20_000_000);
            for (int i = 0; i < 20; i++) {
                byte[] b = allocate(256 * 1024);
                sink += b.length;
                keep.add(b);
            }
            if (keep.size() > 200) {
                keep.clear();
            }
            if (++round % 10 == 0) {
                holdLock(1);
            }
        }
        contender.join();
    }
}
