"""Control-flow workloads, as plain Python for the compiler to read."""
import math


def recurrence(x, n):
    for i in range(n):
        x = math.sin(x)*0.9 + 0.1*math.cos(x)
    return x


def branchy(x, n):
    """Ten nested if-branches inside three nested for-loops (a compile-time workload)."""
    s = 0.0
    for i in range(n):
        for j in range(n):
            for k in range(n):
                t = x*(1.0 + 0.1*i) + 0.01*j - 0.001*k
                if t > 0.1:
                    t = math.sin(t) + 0.5*t
                    if t > 0.2:
                        t = t*t - 0.1
                        if t > 0.3:
                            t = math.exp(-t) + t*0.9
                            if t > 0.4:
                                t = math.cos(t)*t
                                if t > 0.5:
                                    t = t/(1.0 + t*t)
                                    if t > 0.6:
                                        t = math.log(1.0 + t*t)
                                        if t > 0.7:
                                            t = math.sqrt(t + 1.0)
                                            if t > 0.8:
                                                t = math.tanh(t)*2.0
                                                if t > 0.9:
                                                    t = t*0.5 + math.sin(t)
                                                    if t > 1.0:
                                                        t = t - 0.5*math.cos(t)
                                                    else:
                                                        t = t + 0.1
                                                else:
                                                    t = t*1.1
                                            else:
                                                t = t + 0.2*t*t
                                        else:
                                            t = math.exp(t) - 1.0
                                    else:
                                        t = t*t*t
                                else:
                                    t = math.sin(2.0*t)
                            else:
                                t = t + 0.3
                        else:
                            t = 2.0*t
                    else:
                        t = t*t + 0.05
                else:
                    t = 0.1*t
                s = s + t*x
    return s
