#!/usr/bin/env python3
"""Independent reference for the Batcher's epoch order (tests/data/batcher_test.cc, OrderIsPinnedAcrossMachines).

Re-implements std::mt19937_64 (checked against the standard's 10000th-output value), the
SplitMix64 seed mix, the Lemire bounded draw and Fisher-Yates in plain Python, and prints the
first two epoch orders of 10 examples with seed 2024. Run: python3 batcher_order_reference.py"""
M=(1<<64)-1
class MT64:
    def __init__(s, seed):
        s.mt=[0]*312; s.mt[0]=seed&M
        for i in range(1,312):
            s.mt[i]=(6364136223846793005*(s.mt[i-1]^(s.mt[i-1]>>62))+i)&M
        s.i=312
    def __call__(s):
        if s.i>=312:
            for k in range(312):
                y=(s.mt[k]&0xFFFFFFFF80000000)|(s.mt[(k+1)%312]&0x7FFFFFFF)
                v=s.mt[(k+156)%312]^(y>>1)
                if y&1: v^=0xB5026F5AA96619E9
                s.mt[k]=v
            s.i=0
        x=s.mt[s.i]; s.i+=1
        x^=(x>>29)&0x5555555555555555
        x^=(x<<17)&0x71D67FFFEDA60000
        x^=(x<<37)&0xFFF7EEE000000000
        x^=x>>43
        return x&M
r=MT64(5489)
for _ in range(9999): r()
assert r()==9981545732273789042
def mix(x):
    x=(x+0x9e3779b97f4a7c15)&M
    x=((x^(x>>30))*0xbf58476d1ce4e5b9)&M
    x=((x^(x>>27))*0x94d049bb133111eb)&M
    return x^(x>>31)
def below(rng,b):
    m=rng()*b; low=m&M
    if low<b:
        t=((1<<64)-b)%b
        while low<t:
            m=rng()*b; low=m&M
    return m>>64
def order(n,seed,epoch):
    o=list(range(n)); rng=MT64(mix(seed^mix(epoch)))
    for i in range(n-1,0,-1):
        j=below(rng,i+1); o[i],o[j]=o[j],o[i]
    return o
print(order(10,2024,0)); print(order(10,2024,1))
